"""The bot's serving engine on a real database (the nine tracks of tests/bot/world.py):
personal picks by tier, content similarity, trending, bad requests, and refreshing after
feedback without rebuilding on every reaction."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, update

from bot.errors import UserFacingError
from bot.serving.engine import Engine
from bot.settings import load_settings
from storage.database import Database, open_database
from storage.models import FeedbackKind, Track
from storage.repositories.served import ServedItem, record_served
from tests.bot.world import ARTISTS, record
from tests.cli import database_url_in
from tests.factories import track_id

ALICE, BOB = 1001, 1002
SERVER = 9001


@pytest.fixture
async def database(imported: Path) -> AsyncIterator[Database]:
    db = await open_database(database_url_in(imported))
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def engine(imported: Path, database: Database) -> Engine:
    engine = Engine(load_settings(EARWORM_DATA_DIR=str(imported)), database)
    await engine.start()
    return engine


async def test_a_new_member_gets_popular_varied_picks(engine: Engine) -> None:
    picks = await engine.recommend(ALICE, SERVER, 5)
    assert len(picks) == 5
    assert picks.model_kind == "hybrid"
    assert picks.model_version == "content + popularity"  # nothing trained yet
    assert picks.notice is not None
    assert "New here" in picks.notice
    assert max(Counter(ARTISTS[p.track.id] for p in picks.picks).values()) <= 2
    assert all(p.reason for p in picks.picks)
    assert all(p.track.url.endswith(p.track.id) for p in picks.picks)


async def test_likes_reach_the_next_picks(imported: Path, engine: Engine) -> None:
    before = await engine.recommend(ALICE, SERVER, 3)
    liked = [0, 5]  # Halo (pop), Bohemian Rhapsody (rock)
    await record(imported, [(ALICE, SERVER, number, FeedbackKind.LIKE) for number in liked])
    engine.feedback_changed(ALICE)
    engine.min_refresh_seconds = 0.0
    after = await engine.recommend(ALICE, SERVER, 3)
    shown = {p.track.id for p in after.picks}
    assert not shown & {track_id(n) for n in liked}  # never what you already like
    assert after.notice is None  # no longer cold
    assert any("to Halo by Beyoncé" in p.reason for p in after.picks), [
        p.reason for p in after.picks
    ]
    assert [p.track.id for p in before.picks] != [p.track.id for p in after.picks]


async def test_another_members_reaction_does_no_work_for_you(
    imported: Path, engine: Engine
) -> None:
    await engine.recommend(ALICE, SERVER, 2)
    await engine.recommend(BOB, SERVER, 2)
    alice, bob = engine.member_state(ALICE), engine.member_state(BOB)
    shared = engine.serving
    assert alice is not None
    assert bob is not None

    await record(imported, [(BOB, SERVER, 2, FeedbackKind.LIKE)])
    engine.feedback_changed(BOB)
    await engine.recommend(ALICE, SERVER, 2)

    assert engine.member_state(ALICE) is alice  # nothing of alice's was rebuilt
    assert engine.serving is shared  # nor anything shared
    assert engine.member_state(BOB) is None  # bob's own state waits for his next request


async def test_your_own_feedback_counts_at_once(imported: Path, engine: Engine) -> None:
    await engine.recommend(BOB, SERVER, 2)
    await record(imported, [(BOB, SERVER, 2, FeedbackKind.LIKE)])
    engine.feedback_changed(BOB)
    picks = await engine.recommend(BOB, SERVER, 2)
    assert picks.notice is None  # bob is no longer a newcomer
    state = engine.member_state(BOB)
    assert state is not None
    assert track_id(2) in state.tracks


async def test_requests_of_one_member_at_once_build_their_state_once(
    imported: Path, engine: Engine
) -> None:
    await record(imported, [(ALICE, SERVER, 1, FeedbackKind.LIKE)])
    engine.feedback_changed(ALICE)
    misses = engine.member_cache_stats()["misses"]
    first, second = await asyncio.gather(
        engine.recommend(ALICE, SERVER, 2), engine.recommend(ALICE, SERVER, 2)
    )
    assert [p.track.id for p in first.picks] == [p.track.id for p in second.picks]
    assert engine.member_cache_stats()["misses"] - misses <= 2
    assert engine.member_state(ALICE) is not None


async def test_a_reaction_during_a_build_is_not_lost(imported: Path, engine: Engine) -> None:
    """A build that read alice's rows before her reaction is not kept as her state."""
    building = asyncio.ensure_future(engine.recommend(ALICE, SERVER, 2))
    await asyncio.sleep(0)  # the build has started reading
    await record(imported, [(ALICE, SERVER, 3, FeedbackKind.LIKE)])
    engine.feedback_changed(ALICE)
    await building
    state = engine.member_state(ALICE)
    assert state is None or track_id(3) in state.tracks
    await engine.recommend(ALICE, SERVER, 2)
    state = engine.member_state(ALICE)
    assert state is not None
    assert track_id(3) in state.tracks


async def test_listener_counts_follow_new_feedback(imported: Path, engine: Engine) -> None:
    """Popularity (what newcomers get, and "N listeners liked it") is kept from each
    member's rows as they change, never refitted from everyone's."""
    fans = [ALICE, BOB, 1003]
    await record(imported, [(fan, SERVER, 8, FeedbackKind.LIKE) for fan in fans])
    for fan in fans:
        engine.feedback_changed(fan)
    await engine.trending(SERVER, "global", None, 1)  # waits for the changes to apply
    engine.min_refresh_seconds = 0.0
    newcomer = await engine.recommend(4242, SERVER, 5)
    [reason] = [p.reason for p in newcomer.picks if p.track.id == track_id(8)]
    assert reason == "popular: 3 listeners liked it"


async def test_a_swap_serves_at_once_and_members_are_rebuilt_on_their_next_request(
    imported: Path, engine: Engine
) -> None:
    await engine.recommend(ALICE, SERVER, 2)
    before = engine.member_state(ALICE)
    old = engine.serving
    await engine.reload()
    assert engine.serving is not old
    await engine.recommend(ALICE, SERVER, 2)
    after = engine.member_state(ALICE)
    assert after is not None
    assert after is not before
    assert after.serving_version == engine.serving.version  # type: ignore[union-attr]


@pytest.mark.sqlite_only("breaks a row with SQLite's own connection")
async def test_a_member_whose_rows_cannot_be_read_hears_so_and_others_are_served(
    imported: Path, engine: Engine
) -> None:
    import sqlite3

    await record(imported, [(BOB, SERVER, 1, FeedbackKind.LIKE)])
    database = imported / "earworm.db"
    with sqlite3.connect(database) as connection:  # a row the database cannot give back
        connection.execute(
            "UPDATE feedback SET created_at = 'not a time' WHERE user_id = ?", (BOB,)
        )
    engine.feedback_changed(BOB)

    with pytest.raises(UserFacingError, match="couldn't read your listening history"):
        await engine.recommend(BOB, SERVER, 2)
    picks = await engine.recommend(ALICE, SERVER, 2)
    assert len(picks) == 2


async def test_recent_picks_are_not_repeated(engine: Engine, database: Database) -> None:
    first = await engine.recommend(BOB, SERVER, 3)
    async with database.sessions() as session:
        await record_served(
            session,
            [
                ServedItem(
                    message_id=77,
                    channel_id=1,
                    guild_id=None,
                    user_id=BOB,
                    track_id=pick.track.id,
                    position=position,
                    model_kind="hybrid",
                )
                for position, pick in enumerate(first.picks)
            ],
        )
        await session.commit()
    second = await engine.recommend(BOB, SERVER, 3)
    assert not {p.track.id for p in first.picks} & {p.track.id for p in second.picks}


async def test_a_first_request_reads_rows_and_recent_picks_in_one_session(
    engine: Engine, database: Database
) -> None:
    """Every database session costs the event loop round trips: a member's first request
    reads their rows and what they were shown lately together; a later one (their state
    cached) reads only the latter."""
    checkouts: list[object] = []

    def checked_out(*args: object) -> None:
        checkouts.append(args)

    sync_engine = database.engine.sync_engine
    event.listen(sync_engine, "checkout", checked_out)
    try:
        await engine.recommend(ALICE, SERVER, 3)
        first = len(checkouts)
        checkouts.clear()
        await engine.recommend(ALICE, SERVER, 3)
        again = len(checkouts)
    finally:
        event.remove(sync_engine, "checkout", checked_out)
    assert (first, again) == (1, 1)


async def test_a_card_still_being_stored_is_not_repeated(engine: Engine) -> None:
    """A card does not wait for its picks to be committed: until they are, the engine
    itself leaves them out of the member's next picks, and the database answers after."""
    first = await engine.recommend(BOB, SERVER, 3)
    shown = [pick.track.id for pick in first.picks]
    engine.serving_card(BOB, 77, shown)
    second = await engine.recommend(BOB, SERVER, 3)
    assert not set(shown) & {p.track.id for p in second.picks}
    engine.card_stored(BOB, 77)  # committed (here: never, so they may come back)
    third = await engine.recommend(BOB, SERVER, 3)
    assert [p.track.id for p in third.picks] == shown


async def test_cards_read_no_track_details_and_follow_a_new_catalog(
    engine: Engine, database: Database
) -> None:
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sync_engine = database.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        first = await engine.similar(track_id(0), "normal", 4)
        read_first = [s for s in statements if "FROM tracks" in s]
        statements.clear()
        again = await engine.similar(track_id(0), "normal", 4)
        read_again = [s for s in statements if "FROM tracks" in s]
    finally:
        event.remove(sync_engine, "before_cursor_execute", seen)
    assert first.picks
    assert not read_first  # the catalog in memory holds every card's details
    assert not read_again
    assert again == first

    # A new state of the catalog (a re-import renamed a track): read afresh.
    async with database.sessions() as session:
        await session.execute(
            update(Track)
            .where(Track.id == first.picks[0].track.id)
            .values(name="Brand New Name", updated_at=datetime.now(UTC) + timedelta(seconds=5))
        )
        await session.commit()
    await engine.reload()
    renamed = await engine.similar(track_id(0), "normal", 4)
    names = {pick.track.id: pick.track.name for pick in renamed.picks}
    assert names[first.picks[0].track.id] == "Brand New Name"


async def test_genre_filter_and_unknown_genre(engine: Engine) -> None:
    rock = await engine.recommend(ALICE, SERVER, 5, genre="ROCK")
    assert rock.title == "Picks for you in rock"
    assert {p.track.id for p in rock.picks} <= {track_id(5), track_id(6)}
    assert rock.picks
    with pytest.raises(UserFacingError, match="Did you mean: rock"):
        await engine.recommend(ALICE, SERVER, 5, genre="rok")


async def test_similar_and_mix(engine: Engine) -> None:
    similar = await engine.similar(track_id(0), "normal", 4)
    assert similar.title == "Like Halo by Beyoncé"  # the style blend (mode: normal)
    assert similar.model_kind == "content"
    ids = [p.track.id for p in similar.picks]
    assert track_id(0) not in ids
    assert track_id(3) not in ids
    assert ids[0] == track_id(1)  # the only other pop song, by the same artist, comes first
    sound = await engine.similar(track_id(0), "sound", 4)
    assert sound.title == "Sounds like Halo by Beyoncé"  # the audio features alone
    assert all("to Halo by Beyoncé" in p.reason for p in sound.picks)
    assert {track_id(0), track_id(3)}.isdisjoint(p.track.id for p in sound.picks)
    mix = await engine.mix([track_id(0), track_id(5)], 3)
    assert mix.title == "A mix of 2 tracks"
    assert len(mix) == 3
    with pytest.raises(UserFacingError, match="1 to 5"):
        await engine.mix([track_id(n) for n in range(6)], 3)
    with pytest.raises(UserFacingError, match="Mode"):
        await engine.similar(track_id(0), "loud", 3)


async def test_trending_by_scope(imported: Path, engine: Engine) -> None:
    fans = [ALICE, BOB, 1003]  # a track charts with three fans
    await record(imported, [(fan, SERVER, 7, FeedbackKind.LOVE) for fan in fans])
    for fan in fans:  # as the bot's writer does for each reaction it stores
        engine.feedback_changed(fan)
    server = await engine.trending(SERVER, "server", None, 3)
    assert server.title == "Trending on this server"
    assert server.picks[0].track.id == track_id(7)
    elsewhere = await engine.trending(SERVER + 1, "server", None, 3)
    assert server.picks[0].reason.startswith("popular in this server")
    assert elsewhere.picks[0].track.id == track_id(7)  # Earworm's chart fills in
    assert "too little recent activity in this server" in elsewhere.picks[0].reason
    rock = await engine.trending(None, "global", "rock", 2)
    assert {p.track.id for p in rock.picks} == {track_id(5), track_id(6)}


@pytest.mark.parametrize("count", [0, -1, 26, True])
async def test_bad_counts_are_refused(engine: Engine, count: int) -> None:
    with pytest.raises(UserFacingError, match="between 1 and 25"):
        await engine.recommend(ALICE, SERVER, count)


async def test_an_empty_catalog_says_what_to_do(tmp_path: Path) -> None:
    settings = load_settings(EARWORM_DATA_DIR=str(tmp_path))
    database = await open_database(settings.resolved_database_url)
    try:
        engine = Engine(settings, database)
        await engine.start()
        with pytest.raises(UserFacingError, match="catalog import"):
            await engine.recommend(ALICE, None, 3)
    finally:
        await database.close()


async def test_the_writers_rows_move_listener_counts_and_charts_without_rereading(
    engine: Engine, database: Database
) -> None:
    """As in the bot: the writer hands every committed row to the engine (O(rows))."""
    from bot.serving.writer import FeedbackWriter
    from storage.models import FeedbackSource
    from storage.repositories.feedback import FeedbackEvent

    writer = FeedbackWriter(database, on_changes=engine.feedback_written)
    fans = [ALICE, BOB, 1003]
    for fan in fans:
        await writer.record(
            FeedbackEvent(
                user_id=fan,
                guild_id=SERVER,
                track_id=track_id(6),
                kind=FeedbackKind.LOVE,
                source=FeedbackSource.REACTION,
                message_id=77,
            )
        )
    await writer.close()
    chart = await engine.trending(SERVER, "server", None, 1)
    assert chart.picks[0].track.id == track_id(6)
    engine.min_refresh_seconds = 0.0
    newcomer = await engine.recommend(4343, SERVER, 5)
    reasons = {p.track.id: p.reason for p in newcomer.picks}
    assert reasons.get(track_id(6)) == "popular: 3 listeners liked it"


async def test_a_request_begun_before_a_swap_leaves_the_new_models_counts_alone(
    engine: Engine,
) -> None:
    old = engine.serving
    assert old is not None
    await engine.reload()
    new = engine.serving
    assert new is not None
    assert new is not old
    fresh = await engine._hybrid(new)
    # The old models answer with what they were built with, no refresh of their own...
    assert await engine._hybrid(old) is old.base
    # ...so the new models keep their refreshed counts (no rebuild on the next request).
    assert await engine._hybrid(new) is fresh


async def test_warming_after_a_swap_leaves_the_threads_to_members_asking(engine: Engine) -> None:
    await engine.recommend(BOB, SERVER, 2)  # a recent member: warmed after the next swap
    gate = threading.Event()
    request = asyncio.ensure_future(engine.model_calls.work(gate.wait))  # a member's work
    try:
        await engine.reload()
        serving = engine.serving
        assert serving is not None
        await asyncio.sleep(0.2)
        state = engine.member_state(BOB)
        assert state is not None
        assert state.serving_version != serving.version  # not warmed yet
    finally:
        gate.set()
        await request
    assert engine._warm_task is not None
    await engine._warm_task
    state = engine.member_state(BOB)
    assert state is not None
    assert state.serving_version == serving.version


async def test_cards_show_what_the_database_holds_without_reading_it(
    engine: Engine, database: Database
) -> None:
    """Card details come from the catalog the engine read at start-up: for every track,
    exactly what the database's own card query gives."""
    from storage.repositories.tracks import track_details

    serving = engine.serving
    assert serving is not None
    ids = serving.catalog.ids.tolist()
    async with database.sessions() as session:
        stored = {details.id: details for details in await track_details(session, ids)}
    cards = serving.cards.get_many(ids)
    assert cards == stored
    assert len(cards) == len(ids)
    assert any(details.album for details in cards.values())
    assert all(details.features and details.genres for details in cards.values())
    assert serving.cards.get_many(["0" * 22]) == {}  # not in the catalog: the caller reads it

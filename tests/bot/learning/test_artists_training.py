"""The artist relations as a kind of the learning loop: a real run (snapshot and training
worker processes) learns them from the catalog's playlists and members' likes, registers
and promotes them, and the engine serves them after the swap; before any run, the engine
serves relations fitted at start-up from the playlists alone."""

from __future__ import annotations

from pathlib import Path

from bot.learning.run import RunOptions, RunOutcome, run_training
from bot.serving.engine import Engine
from bot.settings import load_settings
from recommender.artists import ArtistRelations
from storage.database import open_database
from storage.models import FeedbackKind, FeedbackSource, ModelStatus
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.registry import active_model
from tests.bot.style_world import BOHEMIAN, NUMBER, TAKE_ON_ME, import_style_world
from tests.cli import database_url_in
from tests.factories import track_id

FIRST_MEMBER = 700_000_000_000_000_000


async def like_queen_and_aha(data_dir: Path) -> None:
    """Four members who each like a-ha and Queen (never in one playlist), and one more."""
    database = await open_database(database_url_in(data_dir))
    extra = [track_id(NUMBER["Dream On"]), track_id(NUMBER["Shout"])]
    try:
        async with database.sessions() as session:
            for member in range(4):
                for track in (TAKE_ON_ME, BOHEMIAN, extra[member % 2]):
                    await record_feedback(
                        session,
                        FeedbackEvent(
                            user_id=FIRST_MEMBER + member,
                            guild_id=None,
                            track_id=track,
                            kind=FeedbackKind.LIKE,
                            source=FeedbackSource.COMMAND,
                        ),
                    )
            await session.commit()
    finally:
        await database.close()


def related_to_aha(engine: Engine) -> dict[str, str]:
    serving = engine.serving
    assert serving is not None
    return {
        match.name: match.reason
        for match in serving.similarity.style.similar_artists("a-ha", 20)
        if "often played alongside a-ha" in match.reason
    }


async def test_artists_are_trained_promoted_and_served_after_the_swap(
    env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = Path(env["EARWORM_DATA_DIR"])
    await import_style_world(data_dir, tmp_path)
    settings = load_settings(EARWORM_DATA_DIR=str(data_dir))
    database = await open_database(database_url_in(data_dir))
    try:
        engine = Engine(settings, database)
        await engine.start()
        assert engine.serving is not None
        relations = engine.serving.similarity.relations
        assert relations.label == "the catalog's playlists"  # fitted at start-up
        assert relations.version is None
        before = related_to_aha(engine)
        assert set(before) == {"Eurythmics", "The Human League", "Soft Cell", "Tears for Fears"}

        await like_queen_and_aha(data_dir)
        swapped: list[RunOutcome] = []

        async def swap(outcome: RunOutcome) -> None:
            swapped.append(outcome)
            await engine.reload()

        outcome = await run_training(
            settings, database, "artists", RunOptions(seed=0), on_promoted=swap
        )

        assert outcome.ok, outcome.error
        [result] = outcome.results
        assert (result.kind, result.version, result.status) == ("artists", 1, ModelStatus.ACTIVE)
        assert result.metrics["params"]["report"]["member_baskets"] == 4
        assert result.metrics["params"]["report"]["playlist_baskets"] == 4
        assert swapped == [outcome]
        async with database.sessions() as session:
            record = await active_model(session, "artists")
        assert record is not None
        assert record.artifact_path is not None
        learned = ArtistRelations.load(Path(record.artifact_path))
        assert learned.relation("a-ha", "queen") > 0  # from the members' likes

        served = engine.serving.similarity.relations
        assert (served.label, served.version) == ("artists v1", 1)
        after = related_to_aha(engine)
        assert "Queen" in after  # what members play together, learned overnight
        assert set(before) <= set(after)  # the playlists still count
        picks = await engine.artist("a-ha", 10)
        assert picks.model_version == "artists v1"
        assert any(p.reason.startswith("Queen: often played alongside a-ha") for p in picks.picks)
    finally:
        await database.close()

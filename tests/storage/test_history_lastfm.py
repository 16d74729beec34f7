"""The Last.fm client against a local fake Last.fm: paging, the now-playing row, top tracks,
and every refusal (unknown user, private profile, rate limits, timeouts, 5xx, bad JSON)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from storage.history.lastfm import RECENT, TOP, UNDATED_PLAYS, LastfmClient, LastfmError
from storage.history.parsed import HistoryError
from tests.fakes.lastfm_server import FakeLastfm

pytestmark = pytest.mark.database_neutral("talks to a fake Last.fm; no database")

START = 1_700_000_000  # 2023-11-14


@pytest.fixture
def lastfm() -> Iterator[FakeLastfm]:
    with FakeLastfm() as fake:
        yield fake


def client(fake: FakeLastfm, **options: object) -> LastfmClient:
    return LastfmClient(fake.api_key, base_url=fake.url, **options)  # type: ignore[arg-type]


def scrobbles(count: int) -> list[tuple[str, str, str, int]]:
    return [
        (f"Song {n}", f"Artist {n % 7}", f"Album {n % 3}", START + 60 * n) for n in range(count)
    ]


async def test_recent_tracks_are_paged_to_the_end(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("rj", scrobbles(450))
    lastfm.now_playing["rj"] = ("Playing Now", "Someone", "Live")
    history = await client(lastfm).recent_tracks("RJ")

    assert history.format == RECENT
    assert len(history.plays) == 450
    assert history.skipped == {"now_playing": 1}
    pages = [r["page"] for r in lastfm.requests]
    assert pages == ["1", "2", "3"]
    assert {r["limit"] for r in lastfm.requests} == {"200"}
    assert {r["api_key"] for r in lastfm.requests} == {lastfm.api_key}
    newest = history.plays[0]
    assert (newest.title, newest.artist, newest.album) == ("Song 449", "Artist 1", "Album 2")
    assert newest.played_at == datetime.fromtimestamp(START + 60 * 449, UTC)
    assert (newest.spotify_id, newest.ms_played, newest.skipped) == (None, None, None)
    assert history.plays[-1].title == "Song 0"


async def test_a_single_scrobble_page_is_read_too(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("solo", scrobbles(1))  # Last.fm answers one row as an object
    history = await client(lastfm).recent_tracks("solo")
    assert [p.title for p in history.plays] == ["Song 0"]


async def test_since_asks_only_for_newer_scrobbles(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("rj", scrobbles(10))
    since = datetime.fromtimestamp(START + 60 * 7, UTC)
    history = await client(lastfm).recent_tracks("rj", since=since)
    assert [p.title for p in history.plays] == ["Song 9", "Song 8", "Song 7"]
    assert lastfm.requests[0]["from"] == str(START + 60 * 7)


async def test_the_caps_stop_paging_and_say_what_was_left(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("heavy", scrobbles(1_000))
    history = await client(lastfm, max_pages=2).recent_tracks("heavy")
    assert len(history.plays) == 400
    assert history.skipped["over_cap"] == 600
    assert len(lastfm.requests) == 2
    lastfm.requests.clear()
    history = await client(lastfm, max_plays=250).recent_tracks("heavy")
    assert len(history.plays) == 250
    assert len(lastfm.requests) == 2


async def test_broken_scrobbles_are_counted_not_fatal(lastfm: FakeLastfm) -> None:
    future = int((datetime.now(UTC) + timedelta(days=3)).timestamp())
    lastfm.add_scrobbles(
        "odd",
        [
            ("Fine", "Band", "", START),
            ("Fine", "Band", "", START),  # the same scrobble twice
            ("", "Band", "", START + 1),
            ("Clockless", "Band", "", 0),  # 1970
            ("Tomorrow", "Band", "", future),
        ],
    )
    history = await client(lastfm).recent_tracks("odd")
    assert [(p.title, p.album) for p in history.plays] == [("Fine", None)]
    assert dict(history.skipped) == {
        "duplicate": 1,
        "no_track": 1,
        "bad_timestamp": 1,
        "future_timestamp": 1,
    }


async def test_top_tracks_become_undated_plays_that_import_the_same_twice(
    lastfm: FakeLastfm,
) -> None:
    lastfm.top["rj"] = [("Halo", "Beyoncé", 3), ("Everything", "Someone", 500), ("None", "X", 0)]
    history = await client(lastfm, max_top_track_plays=50).top_tracks("rj")
    assert history.format == TOP
    halo = [p for p in history.plays if p.title == "Halo"]
    assert [p.played_at for p in halo] == [UNDATED_PLAYS + timedelta(seconds=n) for n in range(3)]
    assert sum(1 for p in history.plays if p.title == "Everything") == 50
    assert dict(history.skipped) == {"over_cap": 450, "no_plays": 1}
    again = await client(lastfm, max_top_track_plays=50).top_tracks("rj")
    assert again.plays == history.plays  # stable times: re-importing stores nothing new


# --- refusals ---------------------------------------------------------------------------


async def test_an_unknown_user(lastfm: FakeLastfm) -> None:
    with pytest.raises(LastfmError, match="no user called 'nobody'") as caught:
        await client(lastfm).recent_tracks("nobody")
    assert caught.value.reason == "unknown_user"
    assert isinstance(caught.value, HistoryError)


async def test_a_private_profile_and_its_top_tracks_fallback(lastfm: FakeLastfm) -> None:
    lastfm.private.add("shy")
    lastfm.top["shy"] = [("Halo", "Beyoncé", 2)]
    with pytest.raises(LastfmError, match="recent listening is hidden") as caught:
        await client(lastfm).recent_tracks("shy")
    assert caught.value.reason == "private"
    assert len((await client(lastfm).top_tracks("shy")).plays) == 2


@pytest.mark.parametrize(
    ("fail", "reason", "retry_after"),
    [
        ({"status": 429, "headers": {"Retry-After": "17"}}, "rate_limited", 17.0),
        ({"status": 429}, "rate_limited", None),
        ({"status": 200, "error": 29}, "rate_limited", None),
        ({"status": 429, "error": 29, "headers": {"Retry-After": "5"}}, "rate_limited", 5.0),
        ({"status": 503}, "unavailable", None),
        ({"status": 500}, "unavailable", None),
        ({"status": 200, "error": 16}, "unavailable", None),
        ({"status": 403, "error": 10}, "bad_api_key", None),
        ({"status": 400, "error": 999}, "bad_response", None),
    ],
)
async def test_failures_map_to_one_error_type(
    lastfm: FakeLastfm, fail: dict[str, object], reason: str, retry_after: float | None
) -> None:
    lastfm.add_scrobbles("rj", scrobbles(3))
    lastfm.fail(**fail)  # type: ignore[arg-type]
    with pytest.raises(LastfmError) as caught:
        await client(lastfm).recent_tracks("rj")
    assert caught.value.reason == reason
    assert caught.value.retry_after == retry_after
    if retry_after:
        assert f"{retry_after:.0f} s" in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_a_failure_on_a_later_page_fails_the_whole_read(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("rj", scrobbles(450))
    lastfm.fail(502, from_page=2)
    with pytest.raises(LastfmError, match="HTTP 502"):
        await client(lastfm).recent_tracks("rj")
    assert [r["page"] for r in lastfm.requests] == ["1", "2"]


async def test_a_slow_last_fm_times_out(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("rj", scrobbles(3))
    lastfm.delay = 5.0
    started = time.perf_counter()
    with pytest.raises(LastfmError, match="too long") as caught:
        await client(lastfm, timeout=0.3).recent_tracks("rj")
    assert caught.value.reason == "timeout"
    assert time.perf_counter() - started < 3


async def test_an_answer_that_is_not_json(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("rj", scrobbles(3))
    lastfm.body_override = "<html>oops</html>"
    with pytest.raises(LastfmError, match="cannot read") as caught:
        await client(lastfm).recent_tracks("rj")
    assert caught.value.reason == "bad_response"


async def test_nobody_listening_is_unavailable(lastfm: FakeLastfm) -> None:
    url = lastfm.url
    lastfm.stop()
    with pytest.raises(LastfmError, match="cannot be reached") as caught:
        await LastfmClient("key", base_url=url, timeout=2).recent_tracks("rj")
    assert caught.value.reason == "unavailable"


async def test_a_shared_session_is_used_and_left_open(lastfm: FakeLastfm) -> None:
    lastfm.add_scrobbles("rj", scrobbles(2))
    async with aiohttp.ClientSession() as session:
        history = await client(lastfm, session=session).recent_tracks("rj")
        assert len(history.plays) == 2
        assert not session.closed


def test_a_client_needs_a_key_and_a_username() -> None:
    with pytest.raises(ValueError, match="API key"):
        LastfmClient(" ")


async def test_a_blank_username_is_refused_without_asking(lastfm: FakeLastfm) -> None:
    with pytest.raises(LastfmError, match=r"not a Last\.fm username"):
        await client(lastfm).recent_tracks("  ")
    assert lastfm.requests == []

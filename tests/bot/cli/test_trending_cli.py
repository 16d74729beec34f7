"""`earworm trending`, run as a user would, against a database imported from a small
hand-made catalog with feedback written through the storage repository; and the pieces of
`earworm bench trending`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bot.bench.catalog import SourceTrack
from bot.bench.trending import item_catalog, scale_up, synthetic_feedback
from recommender.data import Interactions
from recommender.trending import CatalogTrending
from storage.models import FeedbackKind
from tests.bot.world import ARTISTS, TRACKS, record
from tests.cli import assert_one_line_error, earworm
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import track_id

SERVER = 333_333_333_333_333_333
FIELDS = {"id", "name", "artists", "score", "reason", "url"}
OTHER_SERVER = 555_555_555_555_555_555
QUIET_SERVER = 777_777_777_777_777_777


def members(first: int, count: int) -> list[int]:
    return [100_000_000_000_000_000 + first + n for n in range(count)]


def chart(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = earworm("trending", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_catalog_chart_without_feedback(env: dict[str, str], imported: Path) -> None:
    entries = chart(env, "--k", "5")
    assert len(entries) == 5
    assert all(entry.keys() >= FIELDS for entry in entries)
    assert {entry["chart"] for entry in entries} == {"catalog"}
    assert entries[0]["id"] == track_id(3)  # Halo - Live: Beyoncé's best-liked song
    assert entries[0]["artists"] == ["Beyoncé"]
    assert entries[0]["reason"] == "one of Beyoncé's most popular tracks"
    assert entries[0]["url"] == f"https://open.spotify.com/track/{track_id(3)}"
    ids = [str(entry["id"]) for entry in entries]
    assert track_id(0) not in ids  # Halo is a version of Halo - Live
    assert max(Counter(ARTISTS[item] for item in ids).values()) <= 2
    scores = [float(entry["score"]) for entry in entries]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True)


async def test_feedback_charts_per_server_then_across_earworm(
    env: dict[str, str], imported: Path
) -> None:
    fans_here = [(user, SERVER, 7, FeedbackKind.LIKE) for user in members(0, 3)]
    fans_elsewhere = [(user, OTHER_SERVER, 8, FeedbackKind.LOVE) for user in members(10, 3)]
    spam = [(members(20, 1)[0], SERVER, 2, FeedbackKind.LOVE)] * 5  # five cards, one member
    await record(imported, [*fans_here, *fans_elsewhere, *spam])

    here = chart(env, "--guild", str(SERVER), "--k", "4")
    assert [(entry["id"], entry["chart"]) for entry in here[:2]] == [
        (track_id(7), "server"),
        (track_id(8), "earworm"),
    ]
    assert here[0]["reason"] == "popular in this server: 3 members liked it recently"
    assert here[1]["reason"] == "trending across Earworm: 3 listeners liked it recently"
    assert [entry["chart"] for entry in here[2:]] == ["catalog", "catalog"]

    everywhere = chart(env, "--k", "2")
    assert [entry["id"] for entry in everywhere] == [track_id(8), track_id(7)]  # loves beat likes


async def test_a_server_without_feedback_falls_back_and_says_so(
    env: dict[str, str], imported: Path
) -> None:
    await record(imported, [(user, SERVER, 7, FeedbackKind.LIKE) for user in members(0, 3)])
    quiet = chart(env, "--guild", str(QUIET_SERVER), "--k", "3")
    assert quiet[0]["id"] == track_id(7)
    assert quiet[0]["chart"] == "earworm"
    assert all("too little recent activity in this server" in str(e["reason"]) for e in quiet)


def test_a_genre_chart_and_forgiving_genre_names(env: dict[str, str], imported: Path) -> None:
    rock = chart(env, "--genre", "ROCK")
    assert [entry["id"] for entry in rock] == [track_id(5), track_id(6)]
    assert rock[0]["reason"] == "popular in rock: one of Queen's most popular tracks"
    assert [entry["id"] for entry in chart(env, "--genre", "Hip-Hop")] == [track_id(2)]


def test_human_output(env: dict[str, str], imported: Path) -> None:
    result = earworm("trending", "--k", "2", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("  1. Halo - Live — Beyoncé  https://open.spotify.com/track/")
    assert lines[1].strip() == "one of Beyoncé's most popular tracks"
    assert len(lines) == 4


def test_unknown_genre_suggests_close_ones(env: dict[str, str], imported: Path) -> None:
    assert_one_line_error(earworm("trending", "--genre", "rokc", env=env), "did you mean 'rock'")
    assert_one_line_error(earworm("trending", "--genre", "polka", env=env), "unknown genre")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--k", "0"), "--k must be at least 1"),
        (("--k", "-5"), "--k must be at least 1"),
        (("--guild", "my-server"), "--guild must be a Discord server id"),
        (("--guild", "0"), "--guild must be a Discord server id"),
        (("--half-life-days", "0"), "--half-life-days"),
        (("--half-life-days", "inf"), "--half-life-days"),
    ],
)
def test_bad_options_are_one_line(
    env: dict[str, str], args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(earworm("trending", *args, env=env), fragment)


def test_an_absurd_k_is_capped(env: dict[str, str], imported: Path) -> None:
    entries = chart(env, "--k", str(10**30))
    assert 0 < len(entries) < len(TRACKS)  # every chartable track once, and no error


def test_an_empty_catalog_is_a_friendly_error(env: dict[str, str]) -> None:
    assert_one_line_error(earworm("trending", env=env), "catalog is empty", "catalog import")


@pytest.mark.slow
@pytest.mark.database_neutral(
    "the catalog chart on real tracks; its import into PostgreSQL is"
    " tests/storage/test_catalog_import.py's"
)
def test_the_real_catalog(env: dict[str, str]) -> None:
    folder = require_shared(SPOTIFY_CATALOG)
    imported = earworm("catalog", "import", str(folder), env=env, timeout=600)
    assert imported.returncode == 0, imported.stderr
    entries = chart(env, "--k", "20")
    assert len(entries) == 20
    assert max(Counter(str(e["artists"][0]) for e in entries).values()) <= 2  # type: ignore[index]
    pop = chart(env, "--genre", "pop", "--k", "10")
    assert len(pop) == 10
    assert all(str(entry["reason"]).startswith("popular in pop:") for entry in pop)
    assert_one_line_error(earworm("trending", "--genre", "hiphop-x", env=env), "hip hop")


# --- earworm bench trending ---------------------------------------------------------------


def bench_tracks(count: int) -> list[SourceTrack]:
    return [
        SourceTrack(
            id=track_id(number),
            name=f"Song {number}",
            artists=(f"Artist {number % 5}",),
            album=None,
            popularity=number % 100,
            duration_ms=None,
            explicit=None,
            features=(),
            time_signature=None,
            genres=("pop",) if number % 2 else ("rock", "indie"),
        )
        for number in range(count)
    ]


def test_the_scaled_catalog_has_new_tracks_artists_and_songs() -> None:
    real = bench_tracks(40)
    scaled = scale_up(real, 3)
    assert len(scaled) == 120
    assert len({track.id for track in scaled}) == 120
    assert scaled[:40] == real
    assert scaled[40].artists == ("Artist 0 #2",)
    assert (scaled[80].name, scaled[80].genres) == (real[0].name, real[0].genres)
    assert chart_length(scaled) == 3 * chart_length(real)  # new songs by new artists


def chart_length(tracks: list[SourceTrack]) -> int:
    charts = CatalogTrending().fit(Interactions.from_rows([], []), item_catalog(tracks))
    return len(charts.top(1000))


def test_the_synthetic_feedback_is_seeded_and_shaped_as_documented() -> None:
    catalog = item_catalog(bench_tracks(200))
    first = synthetic_feedback(catalog, events=5_000, members=100, seed=1)
    again = synthetic_feedback(catalog, events=5_000, members=100, seed=1)
    assert len(first.interactions) == 5_000
    assert np.array_equal(first.interactions.items, again.interactions.items)
    assert len(set(first.interactions.users.tolist())) <= 100
    assert 0.1 < np.mean(first.servers == "") < 0.2
    assert set(first.servers.tolist()) - {""} <= set(first.server_ids)
    assert set(first.interactions.weights.tolist()) == {1.0, 2.0, -0.3, -1.5}


@pytest.mark.slow
@pytest.mark.database_neutral("the benchmark reads the catalog files, never the database")
def test_the_trending_bench_runs_on_the_real_catalog(env: dict[str, str], tmp_path: Path) -> None:
    require_shared(SPOTIFY_CATALOG)
    out = tmp_path / "figures.json"
    result = earworm(
        "bench",
        "trending",
        *("--queries", "5", "--events", "2000", "--members", "50", "--scale", "2"),
        *("--json", str(out)),
        env={**env, "EARWORM_SHARED_DATA": str(SPOTIFY_CATALOG.parent)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "catalog chart" in result.stdout
    report = json.loads(out.read_text())
    real, scaled = report["runs"]
    assert scaled["tracks"] == 2 * real["tracks"]
    assert {row["query"] for row in real["latency"]} >= {"catalog chart", "/trending (server)"}
    assert all(row["p50_us"] <= row["p99_us"] for row in real["latency"] + scaled["latency"])


def test_the_trending_bench_needs_the_real_catalog(env: dict[str, str], tmp_path: Path) -> None:
    result = earworm("bench", "trending", env={**env, "EARWORM_SHARED_DATA": str(tmp_path)})
    assert_one_line_error(result, "real catalog not found", "EARWORM_SHARED_DATA")

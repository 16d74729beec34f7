"""`earworm demo` as a user runs it: a real process, no token, no network; what it prints."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.cli import clean_env, earworm
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.factories import KAGGLE_114K_HEADER, csv_text, kaggle_row, track_id, write_csv
from tests.fakes.http import serving

# `make demo` sets up the default deployment, an SQLite file in the data directory; the
# PostgreSQL pass covers the same code through the storage and guild suites.
pytestmark = pytest.mark.sqlite_only("the demo builds the default SQLite deployment")

# Famous songs the demo's members ask for by name, and a few more; each sounds different.
SONGS = [
    ("Halo", "Beyoncé", "pop", "0.45", "0.72", "0.47"),
    ("Crazy in Love", "Beyoncé", "r&b", "0.66", "0.76", "0.70"),
    ("Blinding Lights", "The Weeknd", "synth-pop", "0.51", "0.73", "0.33"),
    ("Save Your Tears", "The Weeknd", "synth-pop", "0.68", "0.83", "0.64"),
    ("Shape of You", "Ed Sheeran", "pop", "0.83", "0.65", "0.93"),
    ("Don't Start Now", "Dua Lipa", "dance pop", "0.79", "0.79", "0.68"),
    ("Bohemian Rhapsody", "Queen", "rock", "0.39", "0.40", "0.23"),
    ("Don't Stop Me Now", "Queen", "rock", "0.56", "0.87", "0.61"),
    ("Clair de Lune", "Debussy", "classical", "0.25", "0.05", "0.10"),
    ("Lose Yourself", "Eminem", "hip hop", "0.69", "0.74", "0.06"),
    ("Smells Like Teen Spirit", "Nirvana", "grunge", "0.50", "0.91", "0.72"),
    ("Take Five", "Dave Brubeck", "jazz", "0.46", "0.26", "0.60"),
]


@dataclass(frozen=True)
class Runs:
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    data_dir: Path


def small_catalog(path: Path) -> Path:
    rows = [
        kaggle_row(
            n,
            track_id(n),
            name,
            artist,
            genre,
            popularity=str(90 - n),
            danceability=dance,
            energy=energy,
            valence=valence,
            tempo=str(80 + 7 * n),
        )
        for n, (name, artist, genre, dance, energy, valence) in enumerate(SONGS)
    ]
    return write_csv(path, KAGGLE_114K_HEADER, rows)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The demo twice on one data directory: a small catalog, and no listening history
    (EARWORM_SHARED_DATA is a folder without spotify_songs.zip)."""
    folder = tmp_path_factory.mktemp("demo")
    no_shared_data = folder / "shared"
    no_shared_data.mkdir()
    env = {
        **clean_env(folder / "data"),
        "EARWORM_CATALOG": str(small_catalog(folder / "catalog.csv")),
        "EARWORM_SHARED_DATA": str(no_shared_data),
    }
    first = earworm("demo", env=env, timeout=300)
    second = earworm("demo", env=env, timeout=300)
    return Runs(first, second, folder / "data")


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_it_sets_up_and_says_there_is_no_history(runs: Runs) -> None:
    out = runs.first.stdout
    assert_clean(runs.first)
    assert "Importing the catalog from " in out
    assert f"Catalog: {len(SONGS)} tracks" in out
    assert "No listening history to learn from" in out
    assert "spotify_songs.zip is not there" in out


def test_members_ask_react_and_move_the_card_on(runs: Runs) -> None:
    out = runs.first.stdout
    assert "alice ▸ /help" in out
    assert "(only alice sees this)" in out
    assert "┃ 🎧 Earworm: music recommendations" in out
    assert "┃   … and " in out  # /help is shortened
    assert "New here? These are popular picks." in out
    assert "[👍 Like] [❤️ Love] [👎 Dislike] [⏭️ Next]" in out
    assert "👍 2  ❤️ 2  👎 1  ⏭️ 1" in out  # alice's 👍 and bob's ❤️ on the seeded ones
    assert "alice ▸ presses [⏭️ Next]" in out
    assert "┃ Pick 2 of " in out
    assert "bob ▸ /similar track:Bohemian Rhapsody — Queen" in out
    assert "┃ Like Bohemian Rhapsody by Queen" in out  # /similar: style, then sound
    assert "Saved: you rate Halo — Beyoncé ★★★★★ (5/5)." in out
    assert "Saved: you like Blinding Lights — The Weeknd." in out
    assert "Saved: you like Shape of You — Ed Sheeran." in out
    assert "┃ Trending on Earworm" in out
    assert "**" not in out  # markdown is read, not shown


def test_a_refused_training_is_explained(runs: Runs) -> None:
    out = runs.first.stdout
    assert "carol ▸ /admin status" in out
    assert "┃ Earworm status" in out
    assert "carol ▸ /admin retrain model:als" in out
    assert "Training started (als)" in out
    assert "┃ Training (als) failed" in out
    assert "not enough feedback to validate a model" in out
    assert "Training was refused or failed" in out
    models = out.split("carol ▸ /admin models", 1)[1]  # the refused run is on record
    assert "als v1" in models
    assert "failed" in models


def test_alice_gets_new_picks_and_her_profile(runs: Runs) -> None:
    out = runs.first.stdout
    # Only her first card is a newcomer's: the second knows what she said since.
    second_card = out.split("alice asks again", 1)[1].split("alice ▸ /profile", 1)[0]
    assert "┃ Picks for you" in second_card
    assert "New here?" not in second_card
    what_changed = out.split("What changed for alice", 1)[1]
    assert "before (hybrid content + popularity): " in what_changed
    assert "after  (hybrid content + popularity): " in what_changed
    assert "Her picks changed" in what_changed
    assert "┃ 🎧 alice's taste" in out
    assert "📎 taste.png" in out
    chart = runs.data_dir / "demo" / "profile.png"
    assert f"Her taste profile chart: {chart}" in out
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_it_ends_with_what_to_try_next(runs: Runs) -> None:
    tail = runs.first.stdout.rsplit("Try it yourself", 1)[1]
    assert "DISCORD_TOKEN=" in tail
    assert "earworm run" in tail
    assert "make test" in tail


def test_a_second_run_sets_up_nothing_again_and_starts_afresh(runs: Runs) -> None:
    out = runs.second.stdout
    assert_clean(runs.second)
    assert "Importing the catalog" not in out
    assert "Catalog already imported from " in out
    assert f"Catalog: {len(SONGS)} tracks" in out
    assert "opinions from an earlier demo run were deleted first" in out
    assert "New here? These are popular picks." in out  # alice is a newcomer again
    assert "Saved: you like Blinding Lights — The Weeknd." in out  # not "already"


# --- the catalog download --------------------------------------------------------------------


@pytest.fixture
def catalog_server() -> Iterator[str]:
    """A local HTTP server with a one-track catalog at /dataset.csv."""
    body = csv_text(KAGGLE_114K_HEADER, [kaggle_row(0, track_id(0), "Halo", "Beyoncé", "pop")])

    async def dataset(_request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/csv")

    app = web.Application()
    app.router.add_get("/dataset.csv", dataset)
    with serving(app) as url:
        yield url


def test_the_configured_catalog_url_is_downloaded(
    env: dict[str, str], catalog_server: str, tmp_path: Path
) -> None:
    result = earworm(
        "demo",
        env={
            **env,
            "EARWORM_CATALOG": f"{catalog_server}/dataset.csv",
            "EARWORM_SHARED_DATA": str(tmp_path),
        },
        timeout=300,
    )
    assert_clean(result)
    assert "Catalog: 1 tracks" in result.stdout
    # One track: the card has no second pick, and the demo still finishes.
    assert "That was the last pick on this card." in result.stdout
    assert "Try it yourself" in result.stdout


# --- the real local catalog ------------------------------------------------------------------


@pytest.mark.slow
def test_with_the_real_catalog_training_changes_alices_picks(env: dict[str, str]) -> None:
    folder = require_shared(SPOTIFY_CATALOG)
    result = earworm(
        "demo",
        env={**env, "EARWORM_CATALOG": str(folder), "EARWORM_SHARED_DATA": str(folder.parent)},
        timeout=600,
    )
    out = result.stdout
    assert_clean(result)
    assert "Recorded 40 members, " in out
    assert "┃ Training (als) finished" in out
    assert "┃ als v1 promoted: serves now · " in out
    assert "Blinding Lights — The Weeknd" in out
    assert "— Beyoncé" in out
    what_changed = out.split("What changed for alice", 1)[1]
    assert "before (hybrid content + popularity): " in what_changed
    assert "after  (hybrid als v1): " in what_changed
    assert "Her picks changed and now come from hybrid als v1: " in what_changed
    assert "┃ Pick 1 of 5 · hybrid als v1" in out

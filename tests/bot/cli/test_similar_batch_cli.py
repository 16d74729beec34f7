"""`earworm similar --batch FILE` and `earworm artists NAME`, run as a user would, on the
small world of tests/bot/style_world.py (playlists and release dates kept by the import)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bot.style_world import (
    BOHEMIAN,
    LONELY_BARD,
    NEON_NIGHTS,
    NUMBER,
    TAKE_ON_ME,
    UNTITLED,
    imported_style_world,
)
from tests.cli import assert_one_line_error, clean_env, earworm
from tests.factories import track_id

RESULT_FIELDS = {"id", "name", "artists", "score", "reason"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = clean_env(tmp_path_factory.mktemp("style") / "data")
    imported_style_world(Path(env["EARWORM_DATA_DIR"]), tmp_path_factory.mktemp("files"))
    return env


def batch(world: dict[str, str], tmp_path: Path, text: str, *args: str) -> list[dict[str, object]]:
    path = tmp_path / "seeds.txt"
    path.write_text(text, encoding="utf-8")
    result = earworm("similar", "--batch", str(path), *args, "--json", env=world, timeout=300)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_one_json_line_per_seed_good_and_bad(world: dict[str, str], tmp_path: Path) -> None:
    lines = [
        TAKE_ON_ME,
        "",
        "   ",
        f"https://open.spotify.com/track/{BOHEMIAN}?si=abc",
        "tainted love",
        "zzqx nothing like this",
        "x" * 5000,
        UNTITLED,
        "🎵\x00 <@&123> `code`",
    ]
    answers = batch(world, tmp_path, "\n".join(lines) + "\n", "--k", "3")

    # Blank lines are no seeds; every other line gets exactly one answer, in order.
    assert [answer["query"] for answer in answers] == [
        line.strip() for line in lines if line.strip()
    ]
    by_query = {answer["query"]: answer for answer in answers}
    for query in (TAKE_ON_ME, f"https://open.spotify.com/track/{BOHEMIAN}?si=abc", UNTITLED):
        results = by_query[query]["results"]
        assert isinstance(results, list)
        assert len(results) == 3
        assert all(set(result) == RESULT_FIELDS for result in results)
        assert query not in {result["id"] for result in results}
    assert by_query["tainted love"]["seed"] == track_id(NUMBER["Tainted Love"])
    assert "no track matches" in str(by_query["zzqx nothing like this"]["error"])
    assert "error" in by_query["x" * 5000]
    assert "error" in by_query["🎵\x00 <@&123> `code`"]
    # The first seed in normal mode: its world, then its sound, never its 2021 sound twin.
    first = by_query[TAKE_ON_ME]["results"]
    assert NEON_NIGHTS not in {result["id"] for result in first}
    assert all("often played alongside a-ha" in result["reason"] for result in first)


def test_modes_in_a_batch_and_seeds_a_mode_cannot_use(
    world: dict[str, str], tmp_path: Path
) -> None:
    sound = batch(world, tmp_path, f"{TAKE_ON_ME}\n", "--mode", "sound", "--k", "1")
    genre = batch(world, tmp_path, f"{UNTITLED}\n{LONELY_BARD}\n", "--mode", "genre")

    assert sound[0]["results"][0]["id"] == NEON_NIGHTS
    assert "has no genre in the catalog" in str(genre[0]["error"])
    assert genre[1]["results"]  # folk has no other song: it is answered all the same


@pytest.mark.slow
def test_ten_thousand_lines(world: dict[str, str], tmp_path: Path) -> None:
    seeds = [
        track_id(number % 22) if number % 7 else "no such song at all" for number in range(10_000)
    ]
    answers = batch(world, tmp_path, "\n".join(seeds), "--k", "2")

    assert len(answers) == 10_000
    assert sum("error" in answer for answer in answers) == len([s for s in seeds if " " in s])


def test_bad_batch_invocations_are_one_line_errors(world: dict[str, str], tmp_path: Path) -> None:
    assert_one_line_error(earworm("similar", env=world), "give one TRACK, or --batch FILE")
    assert_one_line_error(
        earworm("similar", TAKE_ON_ME, "--batch", str(tmp_path / "x"), env=world),
        "give one TRACK, or --batch FILE",
    )
    assert_one_line_error(
        earworm("similar", "--batch", str(tmp_path / "missing.txt"), env=world),
        "cannot read",
    )
    empty = clean_env(tmp_path / "empty")
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{TAKE_ON_ME}\n")
    assert_one_line_error(
        earworm("similar", "--batch", str(seeds), env=empty), "the catalog is empty"
    )


def test_artists_json(world: dict[str, str]) -> None:
    result = earworm("artists", "a-ha", "--json", "--k", "4", env=world)

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["artist"] == "a-ha"
    assert found["relations"] == "the catalog's playlists"
    names = [artist["name"] for artist in found["artists"]]
    assert set(names) == {"Eurythmics", "The Human League", "Soft Cell", "Tears for Fears"}
    for artist in found["artists"]:
        assert "often played alongside a-ha" in artist["reason"]
        assert artist["relation"] > 0
        assert artist["best_known_track"]["url"].startswith("https://open.spotify.com/track/")


def test_artists_text_and_bad_names(world: dict[str, str]) -> None:
    text = earworm("artists", "lonely bard", "--k", "2", env=world)

    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("Artists like Lonely Bard")
    assert " 1. " in text.stdout
    assert_one_line_error(
        earworm("artists", "Queeen", env=world), "no artist in the catalog", "did you mean: Queen"
    )
    assert_one_line_error(earworm("artists", "zzzz", env=world), "no artist in the catalog")
    assert_one_line_error(
        earworm("artists", "queen", "--k", "0", env=world), "--k must be between 1 and 100"
    )

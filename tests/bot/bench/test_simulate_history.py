"""`earworm simulate --history`, a tiny run: members who import a history made from half of
their playlist (through /import spotify) beside members of other playlists who do not, in
one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.bench.simulate import Taste, history_arms
from tests.cli import clean_env, earworm
from tests.conftest import SPOTIFY_CATALOG, require_shared

USERS, ROUNDS, REVEALED = 2, 2, 3
WITH_HISTORY = USERS // 2  # the members are dealt into two arms


@pytest.mark.slow
@pytest.mark.sqlite_only("works on a copy of the SQLite file")
def test_history_members_import_then_play_beside_the_others(tmp_path: Path) -> None:
    shared = require_shared(SPOTIFY_CATALOG).parent
    env = {**clean_env(tmp_path / "data"), "EARWORM_SHARED_DATA": str(shared)}
    report = tmp_path / "sim.json"

    result = earworm(
        "simulate",
        *("--users", str(USERS), "--rounds", str(ROUNDS), "--seed", "1"),
        *("--background", "20", "--history", "--json", str(report)),
        env=env,
        timeout=400,
    )

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("history ") for line in lines)
    assert any(line.startswith(f"history: {WITH_HISTORY} members imported") for line in lines)
    data = json.loads(report.read_text())
    rates = data["policies"]
    assert set(rates) == {"earworm", "history", "random", "trending"}
    for series in rates.values():
        assert len(series) == ROUNDS
        assert all(0.0 <= rate <= 1.0 for rate in series)
    history = data["history"]
    assert history["members"] == WITH_HISTORY
    assert history["refused"] == 0
    assert history["plays"] > 0  # read back from the bot's database
    assert history["picks_from_own_history"] == 0  # played tracks are never offered back
    # Both arms reveal their first likes with /like; the history members judged cards too.
    stored = data["stored_feedback"]
    assert stored["earworm"]["like/command"] == (USERS - WITH_HISTORY) * REVEALED
    assert stored["history"]["like/command"] == WITH_HISTORY * REVEALED
    assert stored["history"].get("like/button", 0) == history["card_likes"]
    assert round(sum(rates["history"]) * WITH_HISTORY * 5) == history["card_likes"]
    assert data["refused"]["history"] == {}


def test_the_arms_share_no_playlist() -> None:
    # A member of the same taste who imported its other half would hand it to an earworm
    # member through the collaborative models (and its artists are the judge's rule).
    tastes = [
        Taste(playlist=f"p{n}", tracks=frozenset(), artists=frozenset(), revealed=())
        for n in range(7)
    ]
    plain, history = history_arms(tastes)
    assert {t.playlist for t in plain}.isdisjoint(t.playlist for t in history)
    assert len(plain) + len(history) == len(tastes)
    assert abs(len(plain) - len(history)) <= 1


def test_history_needs_two_members(tmp_path: Path) -> None:
    result = earworm("simulate", "--users", "1", "--history", env=clean_env(tmp_path / "d"))
    assert result.returncode == 2
    assert "--history needs --users 2 or more" in result.stderr

"""`earworm simulate` as a user runs it: a real process on the real local playlists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import assert_one_line_error, clean_env, earworm
from tests.conftest import SPOTIFY_CATALOG, require_shared

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# More rounds than the default cooldown's uses (3 per 10 s): one /recommend a round per
# member, so the members come back later (simulated time) as people do, and are served.
USERS, ROUNDS, PICKS, REVEALED = 4, 4, 5, 3
BACKGROUND = 30  # other playlists as background listeners: enough, and a quick ALS fit


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "data")


@pytest.mark.slow
@pytest.mark.sqlite_only("works on a copy of the SQLite file")
def test_a_small_run_reports_every_policy_and_stores_the_members_feedback(
    env: dict[str, str], tmp_path: Path
) -> None:
    shared = require_shared(SPOTIFY_CATALOG).parent
    env = {**env, "EARWORM_SHARED_DATA": str(shared)}
    report, chart = tmp_path / "sim.json", tmp_path / "sim.png"
    result = earworm(
        "simulate",
        *("--users", str(USERS), "--rounds", str(ROUNDS), "--seed", "0"),
        *("--background", str(BACKGROUND)),
        *("--json", str(report), "--plot", str(chart)),
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for policy in ("earworm", "random", "trending"):
        assert any(line.startswith(policy) for line in result.stdout.splitlines())

    data = json.loads(report.read_text())
    rates = data["policies"]
    assert set(rates) == {"earworm", "random", "trending"}
    for series in rates.values():
        assert len(series) == ROUNDS
        assert all(isinstance(rate, float) and 0.0 <= rate <= 1.0 for rate in series)
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert len(data["training"]) == ROUNDS
    assert data["held_out_playlist_rows"] >= USERS * 15  # the members' own playlists

    # What the bot stored, read back from its database: the revealed likes through /like,
    # one skip per ⏭️ Next pressed, and every 👍 the members gave on cards.
    stored = data["stored_feedback"]
    assert stored["earworm"]["like/command"] == USERS * REVEALED
    assert stored["earworm"]["skip/button"] >= USERS * ROUNDS * PICKS - data["card_likes"]
    assert stored["earworm"].get("like/button", 0) == data["card_likes"]
    assert round(sum(rates["earworm"]) * USERS * PICKS) == data["card_likes"]
    assert stored["trending"] == {}  # the trending-only members never react
    # Background listeners: other playlists' likes, stored apart from the members'.
    assert data["background"]["members"] == BACKGROUND
    assert data["background"]["likes"] >= BACKGROUND * 2
    assert len(data["seconds"]) == ROUNDS
    assert data["refused"] == {"earworm": {}, "trending": {}}  # every card was served

    # A cooldown longer than the whole run: from round 2 on every member is refused
    # politely. The run counts the refusals and goes on; it never crashes on them.
    strict = {**env, "EARWORM_COOLDOWN_USES": "1", "EARWORM_COOLDOWN_SECONDS": "3600"}
    args = ("--users", str(USERS), "--rounds", "2", "--background", str(BACKGROUND))
    refused = earworm("simulate", *args, "--json", str(report), env=strict, timeout=300)
    assert refused.returncode == 0, refused.stderr
    assert "Traceback" not in refused.stderr
    data = json.loads(report.read_text())
    assert data["refused"] == {"earworm": {"cooldown": USERS}, "trending": {"cooldown": USERS}}
    assert f"refused (earworm): {USERS} cooldown" in refused.stdout
    assert data["policies"]["earworm"][1] == 0.0  # nothing shown, nothing liked

    # The same data directory, now holding the catalog: too many members for its playlists.
    too_many = earworm("simulate", "--users", "100000", "--rounds", "1", env=env, timeout=120)
    assert_one_line_error(too_many, "--users 100000 is more than the", "playlists")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--users", "0"), "--users must be 1 or more"),
        (("--rounds", "0"), "--rounds must be 1 or more"),
        (("--users", "-3"), "--users must be 1 or more"),
    ],
)
def test_bad_counts_are_one_line_errors(
    env: dict[str, str], args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(earworm("simulate", *args, env=env), fragment)


def test_a_missing_dataset_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "EARWORM_SHARED_DATA": str(tmp_path / "nowhere")}
    result = earworm("simulate", "--users", "2", "--rounds", "1", env=env)
    assert_one_line_error(result, "the playlists are not at", "EARWORM_SHARED_DATA")

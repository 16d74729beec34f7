"""`earworm recommend`, run as a member's request would be: a real database with a small
hand-made catalog, feedback written through the storage repository, models from the
registry."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.serving.recommend import recommend_for
from bot.settings import load_settings
from storage.database import open_database
from storage.models import FeedbackKind, ModelStatus
from storage.repositories.registry import register_model
from tests.bot.world import TRACKS, record
from tests.cli import assert_one_line_error, database_url_in, earworm, postgres_test_database
from tests.factories import track_id

FIELDS = {"id", "name", "artists", "genres", "score", "reason", "url"}
ARTIST_OF = {track_id(number): artist for number, _, artist, *_ in TRACKS}
GENRE_OF = {track_id(number): genre for number, _, _, genre, _ in TRACKS}
MEMBER = 111_111_111_111_111_111
SERVER = 333_333_333_333_333_333


def picks(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = earworm("recommend", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_member_without_feedback_gets_popular_tracks_with_variety(
    imported: Path, env: dict[str, str]
) -> None:
    results = picks(env, "--user", str(MEMBER), "--k", "5")
    assert len(results) == 5
    assert all(set(row) == FIELDS for row in results)
    assert all(row["url"] == f"https://open.spotify.com/track/{row['id']}" for row in results)
    assert all(str(row["reason"]).startswith(("popular", "a popular")) for row in results)
    artists = Counter(ARTIST_OF[str(row["id"])] for row in results)
    assert max(artists.values()) <= 2
    names = [row["name"] for row in results]
    assert not ({"Halo", "Halo - Live"} <= set(names))  # one version of a song


def test_a_member_with_a_few_likes_gets_what_sounds_like_them(
    imported: Path, env: dict[str, str]
) -> None:
    asyncio.run(record(imported, [(MEMBER, SERVER, 5, FeedbackKind.LIKE)]))  # a Queen song
    results = picks(env, "--user", str(MEMBER), "--k", "4")
    assert track_id(5) not in {row["id"] for row in results}  # never what they already rated
    assert any("Bohemian Rhapsody" in str(row["reason"]) for row in results)


def test_a_disliked_track_is_not_recommended(imported: Path, env: dict[str, str]) -> None:
    before = picks(env, "--user", str(MEMBER), "--k", "3")
    top = str(before[0]["id"])
    number = next(n for n, *_ in TRACKS if track_id(n) == top)
    asyncio.run(record(imported, [(MEMBER, SERVER, number, FeedbackKind.DISLIKE)]))
    after = picks(env, "--user", str(MEMBER), "--k", "9")
    assert top not in {row["id"] for row in after}


def test_the_text_output_says_who_and_why(imported: Path, env: dict[str, str]) -> None:
    result = earworm("recommend", "--user", str(MEMBER), "--k", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert f"Picks for member {MEMBER} (no likes yet" in result.stdout
    assert "no trained model yet (run earworm train)" in result.stdout
    assert "https://open.spotify.com/track/" in result.stdout


async def _register_broken_als(data_dir: Path) -> None:
    database = await open_database(database_url_in(data_dir))
    try:
        async with database.sessions() as session:
            await register_model(
                session,
                "als",
                status=ModelStatus.ACTIVE,
                trained_at=datetime.now(UTC),
                training_rows=10,
                metrics={},
                artifact_path=str(data_dir / "models" / "als" / "gone"),
            )
            await session.commit()
    finally:
        await database.close()


def test_a_damaged_model_is_left_out_with_a_warning(imported: Path, env: dict[str, str]) -> None:
    asyncio.run(_register_broken_als(imported))
    result = earworm("recommend", "--user", str(MEMBER), "--k", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: als version 1 left out" in result.stderr
    assert result.stdout.count("https://open.spotify.com/track/") == 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--user", "0"), "--user must be a Discord user id"),
        (("--user", str(2**64)), "--user must be a Discord user id"),
        (("--user", "5", "--k", "0"), "--k must be between 1 and 100"),
        (("--user", "5", "--k", "5000"), "--k must be between 1 and 100"),
    ],
)
def test_bad_requests_are_one_clear_line(
    imported: Path, env: dict[str, str], args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(earworm("recommend", *args, env=env), fragment)


def test_an_empty_catalog_says_what_to_do(env: dict[str, str]) -> None:
    assert_one_line_error(
        earworm("recommend", "--user", "5", env=env), "catalog is empty", "earworm catalog import"
    )


def test_the_service_reports_the_tier(imported: Path) -> None:
    asyncio.run(record(imported, [(MEMBER, SERVER, 1, FeedbackKind.LOVE)]))
    settings = load_settings(
        EARWORM_DATA_DIR=imported, EARWORM_DATABASE_URL=postgres_test_database()
    )
    cold = asyncio.run(recommend_for(settings, MEMBER + 1, 3))
    light = asyncio.run(recommend_for(settings, MEMBER, 3))
    assert (cold.tier, cold.liked, light.tier, light.liked) == ("cold", 0, "light", 1)
    assert cold.models.weights_from == "defaults"

"""`earworm models list|rollback`, run as an operator would, on a real registry with real
saved models."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from recommender.als import ALS
from recommender.data import Interactions
from storage.database import open_database
from storage.models import ModelStatus
from storage.repositories.registry import list_models, register_model
from tests.cli import assert_one_line_error, database_url_in, earworm


def url(data_dir: Path) -> str:
    return database_url_in(data_dir)


async def register(data_dir: Path, versions: list[tuple[ModelStatus, Path | None, str | None]]):
    database = await open_database(url(data_dir))
    try:
        async with database.sessions() as session:
            for status, artifact, note in versions:
                await register_model(
                    session,
                    "als",
                    status=status,
                    trained_at=datetime(2026, 11, 1, 4, 0, tzinfo=UTC),
                    training_rows=32,
                    metrics={"ndcg@10": 0.25},
                    artifact_path=str(artifact) if artifact else None,
                    note=note,
                )
            await session.commit()
    finally:
        await database.close()


def statuses(data_dir: Path) -> list[tuple[int, ModelStatus]]:
    async def read() -> list[tuple[int, ModelStatus]]:
        database = await open_database(url(data_dir))
        try:
            async with database.sessions() as session:
                return [(r.version, r.status) for r in await list_models(session)]
        finally:
            await database.close()

    return asyncio.run(read())


def saved_als(folder: Path, seed: int) -> Path:
    likes = Interactions.from_rows(["a", "a", "b", "b"], ["x", "y", "y", "z"])
    return ALS(seed=seed).fit(likes).save(folder)


def test_versions_are_listed_and_an_earlier_one_rolled_back(
    env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = Path(env["EARWORM_DATA_DIR"])
    assert earworm("models", "list", env=env).stdout.startswith("No models are registered yet")
    asyncio.run(
        register(
            data_dir,
            [
                (ModelStatus.RETIRED, saved_als(tmp_path / "v1", 0), None),
                (ModelStatus.REJECTED, saved_als(tmp_path / "v2", 1), "worse than v1"),
                (ModelStatus.ACTIVE, saved_als(tmp_path / "v3", 2), None),
            ],
        )
    )

    listed = earworm("models", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == "als v3  active    2026-11-01 04:00 UTC  32 rows  NDCG@10 0.250"
    assert lines[1].startswith("als v2  rejected ")
    assert lines[2] == "    worse than v1"
    as_json = json.loads(earworm("models", "list", "--json", env=env).stdout)
    assert [(v["version"], v["status"]) for v in as_json] == [
        (3, "active"),
        (2, "rejected"),
        (1, "retired"),
    ]

    rolled = earworm("models", "rollback", "1", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert rolled.stdout.startswith("Rolled back als: v3 → v1. A running bot serves it within")
    assert statuses(data_dir) == [
        (3, ModelStatus.RETIRED),
        (2, ModelStatus.REJECTED),
        (1, ModelStatus.ACTIVE),
    ]


def test_a_rollback_that_cannot_serve_is_one_line_and_changes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = Path(env["EARWORM_DATA_DIR"])
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    asyncio.run(
        register(
            data_dir,
            [
                (ModelStatus.ACTIVE, saved_als(tmp_path / "v1", 0), None),
                (ModelStatus.FAILED, saved_als(tmp_path / "v2", 1), "killed"),
                (ModelStatus.RETIRED, damaged, None),
            ],
        )
    )
    before = statuses(data_dir)

    assert_one_line_error(
        earworm("models", "rollback", "9", env=env),
        "No model has version 9. See the versions with `earworm models list`.",
    )
    assert_one_line_error(earworm("models", "rollback", "2", env=env), "als v2 is failed")
    assert_one_line_error(
        earworm("models", "rollback", "3", env=env), "als v3's saved model files are damaged"
    )
    assert earworm("models", "rollback", "0", env=env).returncode == 2  # not a version
    assert statuses(data_dir) == before

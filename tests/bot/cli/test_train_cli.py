"""`earworm train`, run as an admin would: a database with a small catalog and feedback
written through the storage repository, the real models, the real registry and artifacts."""

from __future__ import annotations

import asyncio
import fcntl
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.learning.training import LOCK_FILE, TrainingError, check_trainable, summarise_feedback
from recommender.data import Interactions
from recommender.feedback import feedback_weight
from storage.catalog.importer import import_catalog
from storage.database import open_database
from storage.models import FeedbackKind, FeedbackSource, ModelStatus
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.registry import ModelRecord, list_models
from tests.cli import assert_one_line_error, database_url_in, earworm
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

TRACKS = 12
FIRST_MEMBER = 100_000_000_000_000_000
SERVER = 333_333_333_333_333_333
LIKE, LOVE, DISLIKE = FeedbackKind.LIKE, FeedbackKind.LOVE, FeedbackKind.DISLIKE


def url(data_dir: Path) -> str:
    return database_url_in(data_dir)


async def record(data_dir: Path, events: list[tuple[int, int, FeedbackKind]]) -> None:
    """(member number, track number, kind) per event, through the feedback repository."""
    database = await open_database(url(data_dir))
    try:
        async with database.sessions() as session:
            for member, track, kind in events:
                await record_feedback(
                    session,
                    FeedbackEvent(
                        user_id=FIRST_MEMBER + member,
                        guild_id=SERVER,
                        track_id=track_id(track),
                        kind=kind,
                        source=FeedbackSource.COMMAND,
                    ),
                )
            await session.commit()
    finally:
        await database.close()


async def import_tracks(data_dir: Path, catalog: Path) -> None:
    database = await open_database(url(data_dir))
    try:
        await import_catalog(database, [str(catalog)])
    finally:
        await database.close()


@pytest.fixture
def data_dir(env: dict[str, str], tmp_path: Path) -> Path:
    """A data directory whose database holds TRACKS tracks in two genres, no feedback."""
    rows = [
        kaggle_row(n, track_id(n), f"Song {n}", f"Artist {n // 2}", "rock" if n < 6 else "pop")
        for n in range(TRACKS)
    ]
    folder = Path(env["EARWORM_DATA_DIR"])
    folder.mkdir(parents=True)
    asyncio.run(
        import_tracks(folder, write_csv(tmp_path / "catalog.csv", KAGGLE_114K_HEADER, rows))
    )
    return folder


def registered(data_dir: Path) -> list[ModelRecord]:
    async def read() -> list[ModelRecord]:
        database = await open_database(url(data_dir))
        try:
            async with database.sessions() as session:
                return await list_models(session)
        finally:
            await database.close()

    return asyncio.run(read())


def two_tastes(members: int = 8) -> list[tuple[int, int, FeedbackKind]]:
    """Even members like three rock tracks, odd ones three pop tracks, and each dislikes one
    track of the other genre."""
    events = []
    for member in range(members):
        genre = 6 * (member % 2)
        events += [(member, genre + (member + step) % 6, LIKE) for step in range(3)]
        events.append((member, (genre + 6 + member) % TRACKS, DISLIKE))
    return events


def artifact_dirs(data_dir: Path) -> list[Path]:
    models = data_dir / "models"
    return sorted(path for path in models.glob("*/*") if path.is_dir()) if models.exists() else []


def train(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    """`earworm train --json`: the results of a run that did not fail."""
    result = earworm("train", *args, "--json", env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["error"] is None
    return outcome["results"]


def statuses(data_dir: Path) -> set[tuple[str, int, ModelStatus]]:
    return {(r.kind, r.version, r.status) for r in registered(data_dir)}


def newer_tastes(members: int = 8) -> list[tuple[int, int, FeedbackKind]]:
    """Each member likes two more tracks of their genre."""
    return [
        (member, 6 * (member % 2) + (member + step) % 6, LIKE)
        for member in range(members)
        for step in (3, 4)
    ]


def activate_als(data_dir: Path, events: list[tuple[int, int, FeedbackKind]]) -> Path:
    """An active ALS v1 fitted on `events` (rows 1..n), as a finished run leaves it: saved
    and registered, in this process (the tests below are about the run after it)."""
    from recommender.als import ALS

    artifact = (data_dir / "models" / "als" / "v1").resolve()
    ALS(seed=0).fit(feedback(events)).save(artifact)

    asyncio.run(
        register_als(
            data_dir,
            ModelStatus.ACTIVE,
            training_rows=len(events),
            metrics={"ndcg@10": 0.5, "feedback_through_id": len(events)},
            artifact=artifact,
        )
    )
    return artifact


def test_the_first_als_is_validated_saved_and_promoted(env: dict[str, str], data_dir: Path) -> None:
    from recommender.als import ALS

    events = two_tastes()
    asyncio.run(record(data_dir, events))
    [first] = train(env, "--model", "als")
    metrics = first["metrics"]
    assert (first["kind"], first["version"], first["status"]) == ("als", 1, "active")
    assert first["reason"] == "no active model to compare with (validated by leave-one-out)"
    assert first["training_rows"] == len(events) == 32
    assert metrics["validation_members"] == 8  # every member liked 3 tracks: one held out
    assert 0.0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1.0
    assert metrics["fit_seconds"] > 0
    assert (metrics["members"], metrics["tracks"]) == (8, TRACKS)
    assert metrics["feedback_through_id"] == 32  # the newest row of the snapshot

    [record_] = registered(data_dir)
    artifact = (data_dir / "models" / "als" / "v1").resolve()
    assert (record_.kind, record_.version, record_.status) == ("als", 1, ModelStatus.ACTIVE)
    assert record_.artifact_path == str(artifact)
    assert record_.training_rows == len(events)
    assert record_.metrics == metrics
    assert record_.trained_at is not None
    assert record_.note == first["reason"]
    assert not list((data_dir / "training").iterdir())  # the run's snapshot is gone

    model = ALS.load(artifact)
    liked = {track_id(track) for member, track, kind in events if member == 0}
    picks = [r.item for r in model.recommend(str(FIRST_MEMBER), 5)]
    assert picks
    assert liked.isdisjoint(picks)


def test_a_run_without_new_feedback_keeps_the_active_model(
    env: dict[str, str], data_dir: Path
) -> None:
    asyncio.run(record(data_dir, two_tastes()))
    activate_als(data_dir, two_tastes())

    again = earworm("train", "--model", "als", env=env, timeout=300)

    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()  # the summary an admin reads
    assert lines[0] == "als v2: rejected on 32 feedback rows"
    assert lines[1] == (
        "  too little new feedback to compare with als v1: 0 member(s) liked something new "
        "since it was trained, 2 needed"
    )
    assert statuses(data_dir) == {("als", 1, ModelStatus.ACTIVE), ("als", 2, ModelStatus.REJECTED)}
    assert artifact_dirs(data_dir) == [(data_dir / "models" / "als" / "v1").resolve()]


def test_new_feedback_is_the_holdout_both_models_are_measured_on(
    env: dict[str, str], data_dir: Path
) -> None:
    asyncio.run(record(data_dir, two_tastes()))
    activate_als(data_dir, two_tastes())
    asyncio.run(record(data_dir, newer_tastes()))

    [second] = train(env, "--model", "als")

    comparison = second["metrics"]["comparison"]
    # v1 saw rows 1-32; the holdout is the newest fifth (rows 40-48), which it never saw.
    assert comparison["cutoff_feedback_id"] == 39
    assert comparison["members"] == 5  # members 3-7 liked something in rows 40-48
    assert comparison["holdout_pairs"] == 9
    assert comparison["train_rows"] == 39
    assert comparison["active_version"] == second["compared_with"] == 1
    ours, theirs = comparison["candidate"]["ndcg@10"], comparison["active"]["ndcg@10"]
    assert second["metrics"]["ndcg@10"] == ours
    assert (
        f"NDCG@10 {ours:.3f} vs v1's {theirs:.3f} on the newest feedback of 5 members"
        in (second["reason"])
    )
    promoted = ours >= theirs * 0.9  # the default tolerance
    assert second["status"] == ("active" if promoted else "rejected")
    assert second["training_rows"] == 48


def test_versions_beyond_the_newest_n_lose_their_files(env: dict[str, str], data_dir: Path) -> None:
    env = {**env, "EARWORM_KEEP_MODEL_VERSIONS": "1", "EARWORM_PROMOTION_TOLERANCE": "0.99"}
    asyncio.run(record(data_dir, two_tastes()))
    activate_als(data_dir, two_tastes())
    asyncio.run(record(data_dir, newer_tastes()))
    [second] = train(env, "--model", "als")

    assert second["status"] == "active"
    first, latest = sorted(registered(data_dir), key=lambda r: r.version)
    assert (first.status, first.artifact_path) == (ModelStatus.RETIRED, None)
    assert first.note is not None
    assert "files removed (the newest 1 versions keep theirs)" in (first.note)
    assert first.metrics["ndcg@10"] >= 0  # the numbers stay on record
    assert artifact_dirs(data_dir) == [Path(str(latest.artifact_path))]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("disk-full", "cannot write the als model: [Errno 28] No space left on device"),
        ("corrupt-artifact", "its saved files cannot be loaded"),
    ],
)
def test_a_failing_run_is_recorded_and_the_active_model_stays(
    env: dict[str, str], data_dir: Path, fault: str, reason: str
) -> None:
    asyncio.run(record(data_dir, two_tastes()))
    active = activate_als(data_dir, two_tastes())
    asyncio.run(record(data_dir, newer_tastes()))
    before = {path.name: path.read_bytes() for path in active.iterdir()}

    result = earworm(
        "train", "--model", "als", "--json", env={**env, "EARWORM_TRAINING_FAULT": fault}
    )

    assert result.returncode == 2
    assert reason in result.stderr.splitlines()[-1]
    failed = {r.version: r for r in registered(data_dir)}[2]
    assert failed.status is ModelStatus.FAILED
    assert failed.note is not None
    assert reason in failed.note
    assert failed.artifact_path is None
    assert statuses(data_dir) == {("als", 1, ModelStatus.ACTIVE), ("als", 2, ModelStatus.FAILED)}
    assert artifact_dirs(data_dir) == [active]
    assert {path.name: path.read_bytes() for path in active.iterdir()} == before


def test_with_json_logs_a_failing_worker_still_says_why(
    env: dict[str, str], data_dir: Path
) -> None:
    """The workers' stderr is a protocol the run reads (`error:` lines): it stays text when
    the operator asks for JSON logs, and the command's own error is a JSON line."""
    asyncio.run(record(data_dir, two_tastes()))
    reason = "cannot write the als model: [Errno 28] No space left on device"

    result = earworm(
        "train",
        *("--model", "als", "--json"),
        env={**env, "EARWORM_TRAINING_FAULT": "disk-full", "EARWORM_LOG_FORMAT": "json"},
    )

    assert result.returncode == 2
    assert reason in json.loads(result.stderr.splitlines()[-1])["message"]
    [failed] = registered(data_dir)
    assert failed.note is not None
    assert reason in failed.note
    assert "exit status" not in failed.note  # the worker's own words, not its last line
    assert "{" not in failed.note


def test_a_run_that_died_is_marked_failed_by_the_next(env: dict[str, str], data_dir: Path) -> None:
    asyncio.run(record(data_dir, two_tastes()))
    asyncio.run(register_als(data_dir, ModelStatus.TRAINING))  # as a dead run leaves it
    leftover = data_dir / "training" / "run-dead"
    leftover.mkdir(parents=True)

    [trained] = train(env, "--model", "als")

    assert trained["version"] == 2
    dead = {r.version: r for r in registered(data_dir)}[1]
    assert dead.status is ModelStatus.FAILED
    assert dead.note is not None
    assert dead.note.startswith("interrupted:")
    assert not leftover.exists()


async def register_als(
    data_dir: Path,
    status: ModelStatus,
    *,
    training_rows: int | None = None,
    metrics: dict[str, Any] | None = None,
    artifact: Path | None = None,
) -> None:
    """Register an ALS version as a run leaves it (ACTIVE) or as a dead run left it
    (TRAINING)."""
    from storage.repositories.registry import register_model

    database = await open_database(url(data_dir))
    try:
        async with database.sessions() as session:
            await register_model(
                session,
                "als",
                status=status,
                trained_at=datetime.now(UTC) if status is ModelStatus.ACTIVE else None,
                training_rows=training_rows,
                metrics=metrics or {},
                artifact_path=str(artifact) if artifact else None,
            )
            await session.commit()
    finally:
        await database.close()


@pytest.mark.slow
@pytest.mark.database_neutral(
    "NCF and the hybrid store what ALS does; the other tests here train from PostgreSQL"
)
def test_all_trains_every_kind_in_one_run(env: dict[str, str], data_dir: Path) -> None:
    from recommender.hybrid import Hybrid

    asyncio.run(record(data_dir, two_tastes()))
    results = train(env, "--model", "all")
    assert [(t["kind"], t["version"], t["status"]) for t in results] == [
        ("als", 1, "active"),
        ("ncf", 1, "active"),
        ("hybrid", 1, "active"),
        ("artists", 1, "active"),
    ]
    assert statuses(data_dir) == {
        ("als", 1, ModelStatus.ACTIVE),
        ("ncf", 1, ModelStatus.ACTIVE),
        ("hybrid", 1, ModelStatus.ACTIVE),
        ("artists", 1, ModelStatus.ACTIVE),
    }
    # The hybrid's tuned blend is registered, saved, and what serving uses.
    metrics = results[2]["metrics"]
    weights = metrics["weights"]
    assert set(weights) == {"light", "warm", "rich"}
    assert set(weights["warm"]) == {"als", "ncf", "content", "artists", "pop"}
    assert 0.0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1.0
    [record_] = [r for r in registered(data_dir) if r.kind == "hybrid"]
    assert Hybrid.load(Path(str(record_.artifact_path))).weights == weights
    result = earworm("recommend", "--user", str(FIRST_MEMBER), "--k", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert "models: als v1, ncf v1, content, popularity; blend weights: hybrid v1" in (
        result.stdout
    )


def feedback(events: list[tuple[int, int, FeedbackKind]]) -> Interactions:
    """The events as `earworm train` reads them from the database."""
    return Interactions.from_rows(
        [FIRST_MEMBER + member for member, _, _ in events],
        [track_id(track) for _, track, _ in events],
        [feedback_weight(kind) for _, _, kind in events],
    )


@pytest.mark.parametrize(
    ("events", "fragments"),
    [
        ([], ("no feedback yet",)),
        ([(0, 1, DISLIKE), (1, 2, DISLIKE), (1, 3, FeedbackKind.SKIP)], ("all 3", "negative")),
        (
            [(0, 1, LIKE), (0, 2, LIKE), (0, 3, LIKE), (1, 1, LIKE), (2, 4, LIKE)],
            ("not enough feedback to validate", "1 member(s)", "at least 2"),
        ),
        # A like then a dislike of the same track is no like: member 1 has one left.
        (
            [(0, 1, LIKE), (0, 2, LIKE), (1, 3, LIKE), (1, 4, LIKE), (1, 4, DISLIKE)],
            ("not enough feedback to validate", "1 member(s)"),
        ),
    ],
)
def test_too_little_feedback_is_refused_with_the_reason(
    events: list[tuple[int, int, FeedbackKind]], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(TrainingError) as refused:
        check_trainable(summarise_feedback(feedback(events)))
    assert all(fragment in str(refused.value) for fragment in fragments)


def test_two_members_with_two_likes_are_enough() -> None:
    events = [(0, 1, LIKE), (0, 2, LIKE), (1, 3, LIKE), (1, 4, LOVE), (2, 5, DISLIKE)]
    summary = summarise_feedback(feedback(events))
    assert (summary.rows, summary.members, summary.tracks) == (5, 3, 5)
    assert (summary.positive_rows, summary.validatable_members) == (4, 2)
    check_trainable(summary)  # no error


def test_a_refusal_is_one_line_and_on_record(env: dict[str, str], data_dir: Path) -> None:
    asyncio.run(record(data_dir, [(0, 1, LIKE), (0, 2, LIKE), (1, 3, LIKE)]))
    assert_one_line_error(
        earworm("train", "--model", "als", env=env), "not enough feedback to validate"
    )
    [failed] = registered(data_dir)
    assert (failed.version, failed.status) == (1, ModelStatus.FAILED)
    assert failed.note is not None
    assert "not enough feedback to validate" in failed.note
    assert artifact_dirs(data_dir) == []


def test_one_training_at_a_time(env: dict[str, str], data_dir: Path) -> None:
    asyncio.run(record(data_dir, two_tastes()))
    lock = data_dir / "models" / LOCK_FILE
    lock.parent.mkdir(parents=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a running `earworm train` holds it
        assert_one_line_error(
            earworm("train", "--model", "als", env=env), "another training is running"
        )
    assert registered(data_dir) == []


def test_an_unknown_model_is_refused(env: dict[str, str]) -> None:
    result = earworm("train", "--model", "bpr", env=env)
    assert result.returncode == 2
    assert "Invalid value for '--model'" in result.stderr

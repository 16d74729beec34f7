"""`earworm train`, run as an admin would: a database with a small catalog and feedback
written through the storage repository, the real models, the real registry and artifacts."""

from __future__ import annotations

import asyncio
import fcntl
import json
from pathlib import Path

import pytest

from bot.training import LOCK_FILE, TrainingError, check_trainable, summarise_feedback
from recommender.data import Interactions
from recommender.feedback import feedback_weight
from storage.catalog.importer import import_catalog
from storage.database import open_database
from storage.models import FeedbackKind, FeedbackSource, ModelStatus
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.registry import ModelRecord, list_models
from tests.cli import assert_one_line_error, earworm
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

TRACKS = 12
FIRST_MEMBER = 100_000_000_000_000_000
SERVER = 333_333_333_333_333_333
LIKE, LOVE, DISLIKE = FeedbackKind.LIKE, FeedbackKind.LOVE, FeedbackKind.DISLIKE


def url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'earworm.db'}"


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


def train(env: dict[str, str], *args: str) -> dict[str, object]:
    result = earworm("train", *args, "--json", env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    [trained] = json.loads(result.stdout)
    return trained


def test_als_is_validated_saved_and_registered_active(env: dict[str, str], data_dir: Path) -> None:
    from recommender.als import ALS

    events = two_tastes()
    asyncio.run(record(data_dir, events))
    first = train(env, "--model", "als")
    metrics = first["metrics"]
    assert isinstance(metrics, dict)
    assert (first["kind"], first["version"], first["status"]) == ("als", 1, "active")
    assert first["training_rows"] == len(events) == 32
    assert metrics["validation_members"] == 8  # every member liked 3 tracks: one held out
    assert 0.0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1.0
    assert metrics["fit_seconds"] > 0
    assert (metrics["members"], metrics["tracks"]) == (8, TRACKS)
    artifact = Path(str(first["artifact_path"]))
    assert artifact == (data_dir / "models" / "als" / "v1").resolve()

    [record_] = registered(data_dir)
    assert (record_.kind, record_.version, record_.status) == ("als", 1, ModelStatus.ACTIVE)
    assert record_.artifact_path == str(artifact)
    assert record_.training_rows == len(events)
    assert record_.metrics == metrics
    assert record_.trained_at is not None

    model = ALS.load(artifact)
    liked = {track_id(track) for member, track, kind in events if member == 0}
    picks = [r.item for r in model.recommend(str(FIRST_MEMBER), 5)]
    assert picks
    assert liked.isdisjoint(picks)

    again = earworm("train", "--model", "als", "--seed", "1", env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()  # the summary an admin reads
    assert lines[0].startswith("als v2: trained on 32 feedback rows (8 members, 12 tracks)")
    assert lines[0].endswith("now active")
    assert "validation on 8 members" in lines[1]
    assert "NDCG@10" in lines[1]
    assert lines[2].startswith("  hyperparameters: factors=")
    assert lines[-1].strip() == f"artifact: {artifact.with_name('v2')}"
    statuses = {(r.version, r.status) for r in registered(data_dir)}
    assert statuses == {(1, ModelStatus.RETIRED), (2, ModelStatus.ACTIVE)}
    assert artifact_dirs(data_dir) == [artifact, artifact.with_name("v2")]


@pytest.mark.slow
def test_all_trains_both_and_a_failure_registers_nothing(
    env: dict[str, str], data_dir: Path
) -> None:
    asyncio.run(record(data_dir, two_tastes()))
    # A file where NCF's artifact folder must go: ALS's artifact is written, NCF's cannot be.
    (data_dir / "models").mkdir()
    (data_dir / "models" / "ncf").write_text("in the way")
    failed = earworm("train", "--model", "all", env=env, timeout=600)
    assert_one_line_error(failed, "cannot write the model artifacts")
    assert registered(data_dir) == []
    assert artifact_dirs(data_dir) == []  # ALS's finished artifact was removed again

    (data_dir / "models" / "ncf").unlink()
    result = earworm("train", "--model", "all", "--json", env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    trained = json.loads(result.stdout)
    assert [(t["kind"], t["version"], t["status"]) for t in trained] == [
        ("als", 1, "active"),
        ("ncf", 1, "active"),
        ("hybrid", 1, "active"),
    ]
    assert {(r.kind, r.status) for r in registered(data_dir)} == {
        ("als", ModelStatus.ACTIVE),
        ("ncf", ModelStatus.ACTIVE),
        ("hybrid", ModelStatus.ACTIVE),
    }


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


def test_a_refusal_is_one_line_and_registers_nothing(env: dict[str, str], data_dir: Path) -> None:
    asyncio.run(record(data_dir, [(0, 1, LIKE), (0, 2, LIKE), (1, 3, LIKE)]))
    assert_one_line_error(
        earworm("train", "--model", "als", env=env), "not enough feedback to validate"
    )
    assert registered(data_dir) == []
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


def test_the_hybrid_registers_its_blend_and_serving_uses_it(
    env: dict[str, str], data_dir: Path
) -> None:
    from recommender.hybrid import Hybrid

    asyncio.run(record(data_dir, two_tastes()))
    train(env, "--model", "als")
    hybrid = train(env, "--model", "hybrid")
    metrics = hybrid["metrics"]
    assert isinstance(metrics, dict)
    weights = metrics["weights"]
    assert set(weights) == {"light", "warm"}
    assert set(weights["warm"]) == {"als", "ncf", "content", "pop"}
    assert 0.0 <= metrics["ndcg@10"] <= metrics["hr@10"] <= 1.0
    saved = Hybrid.load(Path(str(hybrid["artifact_path"])))
    assert saved.weights == weights

    result = earworm("recommend", "--user", str(FIRST_MEMBER), "--k", "3", env=env)
    assert result.returncode == 0, result.stderr
    assert "models: als v1, content, popularity; blend weights: hybrid v1" in result.stdout

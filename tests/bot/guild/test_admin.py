"""/admin end to end: carol (Manage Server) runs the bot; alice may not. Training runs the
real learning loop (snapshot and training worker processes) on the test database."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import cast

import pytest
from simcord.results import InteractionResult, ResponseMessage

from bot.app import create_bot
from bot.exts.admin import Admin
from bot.learning.admin import next_run_after, parse_training_time
from bot.learning.run import exit_reason
from storage.models import FeedbackKind, FeedbackSource, ModelStatus
from storage.repositories.bot_settings import get_setting
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.registry import ModelRecord, list_models, register_model
from tests.bot.guild.conftest import Server
from tests.factories import track_id

LIKE, LOVE, DISLIKE = FeedbackKind.LIKE, FeedbackKind.LOVE, FeedbackKind.DISLIKE
OTHER_SERVER = 777_777_777_777_777_777
FIRST_MEMBER = 900_000_000_000_000_000
# A child process trains: give SimCord time to see the command through.
training = pytest.mark.simcord(settle_timeout=120)


async def record(server: Server, events: list[tuple[int, int | None, int, FeedbackKind]]) -> None:
    """(member id, server id or None for a DM, track number, kind) per event."""
    async with server.bot.database.sessions() as session:
        for user, guild, number, kind in events:
            await record_feedback(
                session,
                FeedbackEvent(
                    user_id=user,
                    guild_id=guild,
                    track_id=track_id(number),
                    kind=kind,
                    source=FeedbackSource.COMMAND,
                ),
            )
        await session.commit()


def enough_to_train(server: Server) -> list[tuple[int, int | None, int, FeedbackKind]]:
    """Four members with three likes each: `earworm train` can hold one out per member."""
    return [
        (FIRST_MEMBER + member, server.guild.id, (2 * member + step) % 9, LIKE)
        for member in range(4)
        for step in range(3)
    ]


async def register(
    server: Server, kind: str, artifact: Path | None, status: ModelStatus = ModelStatus.ACTIVE
) -> ModelRecord:
    async with server.bot.database.sessions() as session:
        record_ = await register_model(
            session,
            kind,
            status=status,
            trained_at=datetime(2025, 3, 1, 4, 0, tzinfo=UTC),
            training_rows=40,
            metrics={"ndcg@10": 0.31, "hr@10": 0.5},
            artifact_path=str(artifact) if artifact else None,
        )
        await session.commit()
    return record_


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Path]:
    """Saved models, as a training run leaves them: two real ALS artifacts (a rollback
    loads its target before switching) and a folder for NCF."""
    from recommender.als import ALS
    from recommender.data import Interactions

    likes = Interactions.from_rows(["a", "a", "b", "b"], [track_id(n) for n in (0, 1, 1, 2)])
    folders = {name: tmp_path / "models" / name for name in ("als/v1", "als/v2", "ncf/v1")}
    for seed, name in enumerate(("als/v1", "als/v2")):
        ALS(seed=seed).fit(likes).save(folders[name])
    folders["ncf/v1"].mkdir(parents=True)
    return folders


async def registry(server: Server) -> list[tuple[str, int, ModelStatus]]:
    async with server.bot.database.sessions() as session:
        return [(r.kind, r.version, r.status) for r in await list_models(session)]


def shown(result: InteractionResult) -> ResponseMessage:
    """The last message the member saw for the command (a deferred reply arrives as a
    followup)."""
    messages = [m for m in (result.response, *result.followups) if m is not None]
    assert messages, result
    return messages[-1]


def fields(message: ResponseMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {field.name or "": field.value or "" for field in embed.fields}


def admin_cog(server: Server) -> Admin:
    # load_extension imports the module afresh, so the class is not the one imported here.
    cog = server.bot.get_cog("Admin")
    assert cog is not None
    return cast(Admin, cog)


def let_alice_see_admin(server: Server) -> None:
    """As a server can in its integration settings: show /admin to alice, who lacks Manage
    Server (the bot must still refuse her)."""
    command = server.env.backend.find_command("admin", server.guild.id)
    assert command is not None
    server.guild.set_command_permissions(int(command["id"]), {server.alice: True})


async def test_status_shows_catalog_feedback_models_and_schedule(server: Server) -> None:
    await record(
        server,
        [
            (server.alice.id, server.guild.id, 0, LIKE),
            (server.alice.id, server.guild.id, 1, LIKE),
            (server.alice.id, server.guild.id, 2, LIKE),
            (server.bob.id, server.guild.id, 4, LOVE),
            (server.bob.id, None, 5, DISLIKE),
            (FIRST_MEMBER, OTHER_SERVER, 6, LIKE),
        ],
    )
    await register(server, "als", Path("models/als/v1"))

    result = await server.carol.slash(server.channel, "admin status")

    message = shown(result)
    assert message.ephemeral
    found = fields(message)
    assert found["Catalog"] == "9 tracks · 4 artists · 5 genres"
    assert found["Feedback"] == "6 in total · 4 on this server\nlike 4 · love 1 · dislike 1"
    active = found["Active models"].splitlines()
    assert active[0].startswith("**als** v1 · NDCG@10 0.310 · HR@10 0.500 · trained <t:")
    assert active[1:] == ["**ncf** none yet", "**hybrid** none yet", "**artists** none yet"]
    assert found["Last training"].startswith("`als v1` (active), <t:")
    assert found["Next scheduled run"].endswith("(daily at 04:00 UTC)")
    assert found["Training now"] == "no"


async def test_members_without_manage_server_are_refused(server: Server) -> None:
    assert "admin status" in server.carol.available_commands(server.channel)
    assert "admin status" not in server.alice.available_commands(server.channel)

    let_alice_see_admin(server)
    result = await server.alice.slash(server.channel, "admin retrain")

    message = shown(result)
    assert message.ephemeral
    assert "only members with the Manage Server permission" in message.content
    [refusal] = server.expect_user_errors(1)
    assert "Manage Server" in str(refusal)
    cog = admin_cog(server)
    assert cog.runner.current is None
    assert cog.runner.last is None  # nothing was started


async def test_the_bot_owner_may_use_admin_anywhere(server: Server) -> None:
    let_alice_see_admin(server)
    server.bot.owner_id = server.alice.id

    result = await server.alice.slash(server.channel, "admin schedule")

    assert "Daily retraining runs at 04:00 UTC" in shown(result).content
    server.expect_user_errors(0)


@training
async def test_retrain_with_too_little_feedback_reports_the_refusal(server: Server) -> None:
    await record(server, [(server.alice.id, server.guild.id, n, LIKE) for n in (0, 1, 2)])

    result = await server.carol.slash(server.channel, "admin retrain", model="als")

    assert result.response is not None
    assert result.response.ephemeral
    assert result.response.content.startswith("Training started (als)")
    [followup] = result.followups
    assert followup.ephemeral
    [embed] = followup.embeds
    assert embed.title == "Training (als) failed"
    assert "not enough feedback to validate a model: 1 member(s)" in (embed.description or "")
    assert "The models that were active still serve." in (embed.description or "")
    # The run is on record, failed, with its reason; it left no files.
    assert await registry(server) == [("als", 1, ModelStatus.FAILED)]
    listed = await server.carol.slash(server.channel, "admin models")
    assert "not enough feedback to validate" in (shown(listed).embeds[0].description or "")
    assert not (server.bot.settings.data_dir / "models" / "als" / "v1").exists()


@training
async def test_retrain_registers_a_new_active_version(server: Server) -> None:
    await record(server, enough_to_train(server))

    result = await server.carol.slash(server.channel, "admin retrain", model="als")

    [followup] = result.followups
    [embed] = followup.embeds
    assert embed.title == "Training (als) finished"
    assert (embed.description or "").startswith(
        "`als v1` promoted: serves now · 12 feedback rows\n↳ no active model to compare with"
    )
    assert await registry(server) == [("als", 1, ModelStatus.ACTIVE)]
    assert server.bot.engine.serving is not None
    assert server.bot.engine.serving.active.versions == {"als": 1}  # swapped in

    listed = await server.carol.slash(server.channel, "admin models")
    [embed] = shown(listed).embeds
    assert (embed.description or "").startswith("`als v1` **active** · <t:")
    assert "12 rows · NDCG@10 " in (embed.description or "")


@training
async def test_a_second_retrain_while_one_runs_joins_it(server: Server) -> None:
    await record(server, enough_to_train(server))
    runner = admin_cog(server).runner
    running = runner.start("als")  # as the nightly run would
    assert runner.start("all") is running  # joins: no second run

    joined = await server.carol.slash(server.channel, "admin retrain")
    outcome = await running

    assert joined.response is not None
    assert joined.response.content.startswith("A training (als) is already running, started <t:")
    assert "I'll post its result here when it's done." in joined.response.content
    [embed] = shown(joined).embeds  # the joined run's result
    assert embed.title == "Training (als) finished"
    assert outcome.ok, outcome.error
    assert await registry(server) == [("als", 1, ModelStatus.ACTIVE)]  # one run, one version
    assert runner.current is None


async def test_rollback_makes_an_earlier_version_active(
    server: Server, saved: dict[str, Path]
) -> None:
    await register(server, "als", saved["als/v1"])
    await register(server, "als", saved["als/v2"])

    result = await server.carol.slash(server.channel, "admin rollback", version=1)

    assert shown(result).ephemeral
    assert shown(result).content.startswith("Rolled back als: v2 → v1. v1 serves now.")
    assert await registry(server) == [
        ("als", 2, ModelStatus.RETIRED),
        ("als", 1, ModelStatus.ACTIVE),
    ]


async def test_rollback_refuses_what_cannot_serve(server: Server, saved: dict[str, Path]) -> None:
    await register(server, "als", saved["als/v1"])
    await register(server, "ncf", saved["ncf/v1"])
    await register(server, "als", saved["als/v2"], ModelStatus.FAILED)
    await register(server, "als", None, ModelStatus.RETIRED)  # v3: no artifact saved
    await register(server, "als", saved["ncf/v1"], ModelStatus.RETIRED)  # v4: no model in it
    before = await registry(server)

    attempts = {
        "No model has version 9": {"version": 9},
        "Version 1 exists for als, ncf: say which": {"version": 1},
        "als v2 is failed and cannot serve": {"version": 2, "kind": "als"},
        "als v3's saved model files are gone": {"version": 3},
        "There is no ncf version 2": {"version": 2, "kind": "ncf"},
        "als v4's saved model files are damaged (": {"version": 4},
    }
    for expected, options in attempts.items():
        result = await server.carol.slash(server.channel, "admin rollback", **options)
        assert expected in shown(result).content, options

    server.expect_user_errors(len(attempts))
    assert await registry(server) == before


async def test_schedule_validates_stores_and_retimes_the_daily_run(server: Server) -> None:
    cog = admin_cog(server)
    assert cog.daily_training.is_running()

    refused = await server.carol.slash(server.channel, "admin schedule", time="25:00")
    assert "“25:00” is not a time of day: use HH:MM in UTC" in shown(refused).content
    server.expect_user_errors(1)

    stored = await server.carol.slash(server.channel, "admin schedule", time="03:30")
    assert shown(stored).content.startswith("Daily retraining now runs at 03:30 UTC")
    async with server.bot.database.sessions() as session:
        assert await get_setting(session, "training_time") == "03:30"
    upcoming = cog.daily_training.next_iteration
    assert upcoming is not None
    assert (upcoming.hour, upcoming.minute) == (3, 30)

    shown_now = await server.carol.slash(server.channel, "admin schedule")
    assert shown_now.response is not None
    assert "Daily retraining runs at 03:30 UTC" in shown_now.response.content

    # A restarted bot reads the stored time back.
    await server.env.restart_bot(create_bot(server.bot.settings))
    upcoming = admin_cog(server).daily_training.next_iteration
    assert upcoming is not None
    assert (upcoming.hour, upcoming.minute) == (3, 30)


@pytest.mark.parametrize(
    ("text", "expected"), [("03:30", time(3, 30)), (" 3:05 ", time(3, 5)), ("23:59", time(23, 59))]
)
def test_training_times_are_read_as_utc(text: str, expected: time) -> None:
    assert parse_training_time(text) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize("text", ["25:00", "24:00", "12:60", "noon", "1230", "", "-1:30"])
def test_other_training_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_training_time(text)


def test_the_next_run_is_strictly_after_now() -> None:
    at = time(4, 0, tzinfo=UTC)
    morning = datetime(2025, 3, 1, 3, 59, tzinfo=UTC)
    assert next_run_after(at, morning) == datetime(2025, 3, 1, 4, 0, tzinfo=UTC)
    assert next_run_after(at, morning.replace(hour=4, minute=0)) == datetime(
        2025, 3, 2, 4, 0, tzinfo=UTC
    )


def test_a_failed_worker_is_told_by_its_error_line_or_signal() -> None:
    noisy = ["RuntimeWarning: invalid value", "error: not enough feedback"]
    assert exit_reason("train", 2, noisy) == "not enough feedback"
    assert exit_reason("train", -9, ["Traceback ..."]) == "the train process was killed (SIGKILL)"
    assert exit_reason("train", -11, []) == "the train process crashed (SIGSEGV)"
    assert exit_reason("snapshot", 1, ["ValueError: bad"]) == (
        "the snapshot process stopped with exit status 1: ValueError: bad"
    )
    assert exit_reason("train", 1, []) == "the train process stopped with exit status 1"

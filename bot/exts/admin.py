"""/admin: status, retraining, the model registry and the daily training time.

Hidden from members without Manage Server by the group's default permissions (a server can
change those in its settings), and checked again on every use: Manage Server in this server,
or the bot's owner. The work is in bot/learning/admin.py; this file talks to Discord.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks
from discord.utils import format_dt

from bot.errors import UserFacingError
from bot.learning import admin as service
from bot.learning.run import recover_interrupted
from bot.ui.cards import escape
from storage.models import ModelStatus

if TYPE_CHECKING:
    from bot.app import EarwormBot
    from storage.repositories.registry import ModelRecord

log = logging.getLogger(__name__)

TrainChoice = Literal["all", "als", "ncf", "hybrid", "artists"]
KindChoice = Literal["als", "ncf", "hybrid", "artists"]
OK_COLOUR = discord.Colour.green()
FAILED_COLOUR = discord.Colour.red()
INFO_COLOUR = discord.Colour.blurple()


class AdminOnly(UserFacingError, app_commands.CheckFailure):
    """A failed admin check: a CheckFailure, so discord.py hands it to the central error
    handler, which shows it as a UserFacingError."""


class Admin(commands.Cog):
    admin = app_commands.Group(
        name="admin",
        description="Run Earworm on this server (Manage Server)",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self.runner = service.TrainingRunner(
            bot.settings, bot.database, after_promotion=self._reload_engine
        )
        self.training_time = service.DEFAULT_TRAINING_TIME
        self._registry_seen: tuple[tuple[str, int], ...] | None = None

    async def cog_load(self) -> None:
        await recover_interrupted(self.bot.settings, self.bot.database)
        self.training_time = await service.load_training_time(self.bot.database)
        self.daily_training.change_interval(time=self.training_time)
        self.daily_training.start()
        self._registry_seen = await service.active_signature(self.bot.database)
        self.registry_watch.change_interval(seconds=self.bot.settings.registry_poll_seconds)
        self.registry_watch.start()

    async def cog_unload(self) -> None:
        self.daily_training.cancel()
        self.registry_watch.cancel()
        await self.runner.close()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        if interaction.permissions.manage_guild or await self.bot.is_owner(interaction.user):
            return True
        raise AdminOnly(
            "Sorry, only members with the Manage Server permission can use /admin. "
            "Ask a server admin if something needs changing."
        )

    # --- the daily run -------------------------------------------------------------------

    @tasks.loop(time=service.DEFAULT_TRAINING_TIME)
    async def daily_training(self) -> None:
        """What /admin retrain all does, every day at the scheduled time (UTC), unless too
        little feedback arrived since the last run (the runner logs the outcome)."""
        try:
            await self.runner.run_if_due()
        except Exception:  # a bug must not end the daily schedule
            log.exception("the daily training failed")

    @tasks.loop(seconds=30)
    async def registry_watch(self) -> None:
        """Swap in models promoted or rolled back by another process (`earworm train`,
        `earworm models rollback`): the registry is the truth, the engine follows it."""
        try:
            if await service.active_signature(self.bot.database) != self._registry_seen:
                log.info("the active models changed in the registry: reloading")
                await self._reload_engine()
        except Exception:
            log.exception("could not follow the model registry")

    def _retime(self, at: time) -> None:
        self.daily_training.change_interval(time=at)
        upcoming = self.daily_training.next_iteration
        # discord.py only re-times a sleeping loop that has run once; before its first run
        # it would still wake at the old time, so start it again.
        if self.daily_training.is_running() and (
            upcoming is None or (upcoming.hour, upcoming.minute) != (at.hour, at.minute)
        ):
            self.daily_training.restart()

    async def _reload_engine(self, _outcome: service.TrainingOutcome | None = None) -> None:
        """Swap the engine to the registry's active models (requests in flight finish on
        the old ones)."""
        seen = await service.active_signature(self.bot.database)
        engine = getattr(self.bot, "engine", None)
        if engine is not None:
            await engine.reload()
        self._registry_seen = seen

    # --- commands --------------------------------------------------------------------------

    @admin.command(name="status", description="Catalog, feedback, models and training at a glance")
    async def status(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        status = await service.gather_status(
            self.bot.database,
            self.runner,
            guild_id=interaction.guild_id,
            training_time=self.training_time,
            next_run=self._next_run(),
        )
        await interaction.followup.send(embed=status_embed(status), ephemeral=True)

    @admin.command(name="retrain", description="Train the models on all feedback now")
    @app_commands.describe(model="Which model to train (default: all of them)")
    async def retrain(self, interaction: discord.Interaction, model: TrainChoice = "all") -> None:
        running = self.runner.current
        run = self.runner.start(model)  # joins the run in progress, if any
        if running is not None:
            message = (
                f"A training ({running.model}) is already running, started "
                f"{format_dt(running.started_at, 'R')}: now {running.progress}. "
                "I'll post its result here when it's done."
            )
        else:
            message = f"Training started ({model})… I'll post the result here when it's done."
        await interaction.response.send_message(message, ephemeral=True)
        outcome = await asyncio.shield(run)  # a cancelled command must not cancel training
        try:
            await interaction.followup.send(embed=outcome_embed(outcome), ephemeral=True)
        except discord.HTTPException:  # e.g. the interaction expired during a long run
            log.warning("could not post the result of /admin retrain %s", model, exc_info=True)

    @admin.command(name="models", description="The registered model versions, newest first")
    @app_commands.describe(kind="Only this kind of model")
    async def models(
        self, interaction: discord.Interaction, kind: KindChoice | None = None
    ) -> None:
        records = await service.registered_models(self.bot.database, kind)
        if not records:
            raise UserFacingError(
                f"No {kind + ' ' if kind else ''}models are registered yet. "
                "Train some with `/admin retrain`."
            )
        embed = discord.Embed(
            title=f"Registered {kind or 'model'} versions",
            description="\n".join(model_line(record) for record in records),
            colour=INFO_COLOUR,
        )
        embed.set_footer(text=f"newest first, at most {service.MAX_LISTED_MODELS}")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @admin.command(name="rollback", description="Serve an earlier model version again")
    @app_commands.describe(
        version="The version to make active (see /admin models)",
        kind="Its kind (needed when several kinds have that version)",
    )
    async def rollback(
        self,
        interaction: discord.Interaction,
        version: app_commands.Range[int, 1, None],
        kind: KindChoice | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        done = await service.rollback(self.bot.database, version, kind)
        await self._reload_engine_after_rollback()
        before = f"v{done.previous.version}" if done.previous else "none"
        message = (
            f"Rolled back {done.kind}: {before} → v{done.now_active.version}. "
            f"v{done.now_active.version} serves now."
        )
        if self.runner.current is not None:
            message += " A training is running: when it finishes, its models take over."
        await interaction.followup.send(message, ephemeral=True)

    @admin.command(name="schedule", description="When the daily retraining runs (UTC)")
    @app_commands.rename(at="time")
    @app_commands.describe(at="New time of day, HH:MM in UTC (leave out to see the current one)")
    async def schedule(self, interaction: discord.Interaction, at: str | None = None) -> None:
        if at is None:
            shown = service.format_training_time(self.training_time)
            message = (
                f"Daily retraining runs at {shown} UTC; next run "
                f"{format_dt(self._next_run(), 'R')}. Change it with `/admin schedule time:HH:MM`."
            )
        else:
            try:
                new_time = service.parse_training_time(at)
            except ValueError:
                shown = escape(at[:20])
                raise UserFacingError(
                    f"“{shown}” is not a time of day: use HH:MM in UTC, for example 03:30."
                ) from None
            await service.save_training_time(self.bot.database, new_time)
            self.training_time = new_time
            self._retime(new_time)
            shown = service.format_training_time(new_time)
            message = (
                f"Daily retraining now runs at {shown} UTC; next run "
                f"{format_dt(service.next_run_after(new_time, discord.utils.utcnow()), 'f')}."
            )
        await interaction.response.send_message(message, ephemeral=True)

    # --- helpers -------------------------------------------------------------------------

    def _next_run(self) -> datetime:
        return self.daily_training.next_iteration or service.next_run_after(
            self.training_time, discord.utils.utcnow()
        )

    async def _reload_engine_after_rollback(self) -> None:
        try:
            await self._reload_engine()
        except Exception:
            log.exception("rolled back, but reloading the engine failed")
            raise UserFacingError(
                "The rollback is saved, but I could not load that model yet; "
                "it will be used after a restart. The logs say why."
            ) from None


# --- embeds ------------------------------------------------------------------------------


def _when(record: ModelRecord) -> str:
    return format_dt(record.trained_at, "f") if record.trained_at else "not trained"


def model_line(record: ModelRecord) -> str:
    parts = [f"`{record.kind} v{record.version}` **{record.status.value}**", _when(record)]
    if record.training_rows is not None:
        parts.append(f"{record.training_rows:,} rows")
    figures = service.metric_text(record.metrics)
    if figures:
        parts.append(figures)
    if record.note and record.status in (ModelStatus.REJECTED, ModelStatus.FAILED):
        parts.append(record.note[:120])
    return " · ".join(parts)


def status_embed(status: service.AdminStatus) -> discord.Embed:
    embed = discord.Embed(title="Earworm status", colour=INFO_COLOUR)
    catalog = status.catalog
    sizes = f"{catalog.tracks:,} tracks · {catalog.artists:,} artists · {catalog.genres:,} genres"
    embed.add_field(name="Catalog", value=sizes, inline=False)
    feedback = status.feedback
    kinds = " · ".join(f"{kind} {count:,}" for kind, count in feedback.by_kind.items())
    here = f" · {feedback.this_server:,} on this server" if feedback.this_server is not None else ""
    embed.add_field(
        name="Feedback",
        value=f"{feedback.total:,} in total{here}" + (f"\n{kinds}" if kinds else ""),
        inline=False,
    )
    active_lines = []
    for kind, record in status.active.items():
        if record is None:
            active_lines.append(f"**{kind}** none yet")
            continue
        figures = service.metric_text(record.metrics)
        trained = format_dt(record.trained_at, "R") if record.trained_at else "not trained"
        active_lines.append(
            f"**{kind}** v{record.version} · {figures + ' · ' if figures else ''}trained {trained}"
        )
    embed.add_field(name="Active models", value="\n".join(active_lines), inline=False)
    embed.add_field(name="Last training", value=_last_training(status), inline=False)
    embed.add_field(
        name="Next scheduled run",
        value=f"{format_dt(status.next_run, 'f')} (daily at "
        f"{service.format_training_time(status.training_time)} UTC)",
        inline=False,
    )
    running = status.running
    embed.add_field(
        name="Training now",
        value=(
            f"yes: {running.model}, started {format_dt(running.started_at, 'R')}\n"
            f"step {running.steps + 1}: {running.progress}"
        )
        if running
        else "no",
        inline=False,
    )
    return embed


def _last_training(status: service.AdminStatus) -> str:
    newest = status.last_model
    text = (
        f"`{newest.kind} v{newest.version}` ({newest.status.value}), {_when(newest)}"
        if newest
        else "never: run `/admin retrain` once members have given feedback"
    )
    outcome = status.last_outcome
    if outcome is not None:
        when = format_dt(outcome.finished_at, "R")
        if outcome.ok:
            text += f"\nLatest run from here ({outcome.label}) finished {when}: "
            text += service.describe_results(outcome.results)[:600]
        else:
            text += f"\nLatest run from here ({outcome.label}) **failed** {when}: "
            text += (outcome.error or "")[:600]
    skip = status.last_skip
    if skip is not None and (outcome is None or skip.at > outcome.finished_at):
        text += (
            f"\nNightly run skipped {format_dt(skip.at, 'R')}: {skip.new_rows:,} new feedback "
            f"rows and plays, {skip.needed:,} needed"
        )
    return text[:1024]


STATUS_WORDS = {
    ModelStatus.ACTIVE: "promoted: serves now",
    ModelStatus.REJECTED: "rejected: the active one stays",
    ModelStatus.FAILED: "failed",
}


def outcome_embed(outcome: service.TrainingOutcome) -> discord.Embed:
    if not outcome.ok:
        return discord.Embed(
            title=f"Training ({outcome.label}) failed",
            description=f"{outcome.error}\nThe models that were active still serve.",
            colour=FAILED_COLOUR,
        )
    lines = []
    for item in outcome.results:
        rows = f" · {item.training_rows:,} feedback rows" if item.training_rows else ""
        words = STATUS_WORDS.get(item.status, item.status.value)
        lines.append(f"`{item.kind} v{item.version}` {words}{rows}\n↳ {item.reason[:300]}")
    if outcome.warning:
        lines.append(f"⚠️ {outcome.warning}")
    seconds = (outcome.finished_at - outcome.started_at).total_seconds()
    embed = discord.Embed(
        title=f"Training ({outcome.label}) finished",
        description="\n".join(lines)[:4096],
        colour=OK_COLOUR if outcome.promoted else INFO_COLOUR,
    )
    embed.set_footer(text=f"took {seconds:.0f} s")
    return embed


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Admin(bot))

"""/import spotify and /import lastfm: a member brings their listening history.

Plays become implicit feedback (recommender/plays.py): the member's next `/recommend` starts
from what they listen to, not from nothing.

- **Spotify**: the member uploads the privacy export (Account privacy → "Download your
  data": the .zip, or one of its Streaming_History_Audio / StreamingHistory .json files).
  The size is checked from the attachment before anything is read; the file is read into
  memory (`attachment.read()`) and never written to disk, parsed in a worker thread
  (storage/history/spotify_export.py) and dropped once imported.
- **Last.fm**: the member's public scrobbles, by username, through Last.fm's API (needs
  LASTFM_API_KEY), fetched and parsed in a worker thread on an event loop of its own. A
  profile that hides its recent listening falls back to its top tracks.

Both answer privately and work in DMs. The import is one transaction through the feedback
writer (bot/serving/writer.py), so it never fights reactions for SQLite's write lock and a
failure leaves nothing half-written; importing the same history again stores nothing new.
A member runs one import at a time.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.ui.cards import escape
from storage.history.lastfm import LastfmClient, LastfmError
from storage.history.parsed import HistoryError, ParsedHistory
from storage.history.service import HistoryImportSummary, import_history
from storage.history.spotify_export import ACCOUNT_DATA, EXTENDED, parse_spotify_export
from storage.models import PlaySource

if TYPE_CHECKING:
    from bot.app import EarwormBot

log = logging.getLogger(__name__)
T = TypeVar("T")

MB = 1024 * 1024
LASTFM_KEY_URL = "https://www.last.fm/api/account/create"
NO_LASTFM_KEY = (
    "Last.fm imports are not set up on this bot: its operator needs a Last.fm API key "
    f"(free, from <{LASTFM_KEY_URL}>) set as `LASTFM_API_KEY`. "
    "You can still import your Spotify history with `/import spotify`."
)
ALREADY_IMPORTING = "Your last import is still running. Wait for its summary, then try again."
EXPORT_HOWTO = (
    "Get it from Spotify: Account → Privacy settings → Download your data "
    "(the Extended streaming history has every play since you joined)."
)
# Extra words for a Last.fm failure, by LastfmError.reason: what the member can do.
LASTFM_HINTS = {
    "unknown_user": "Check the spelling: it is the name in your profile's address, "
    "last.fm/user/<name>.",
    "private": "On Last.fm, Settings → Privacy: untick “Hide recent listening information”, "
    "then run `/import lastfm` again.",
}
# Rows left out, by reason (storage/history and storage/repositories/plays), for people.
SKIP_WORDS = {
    "podcast": ("podcast episode", "podcast episodes"),
    "audiobook": ("audiobook chapter", "audiobook chapters"),
    "no_track": ("row without a song", "rows without a song"),
    "malformed_row": ("unreadable row", "unreadable rows"),
    "bad_timestamp": ("row without a valid time", "rows without a valid time"),
    "future_timestamp": ("play dated in the future", "plays dated in the future"),
    "too_old": ("play dated before 2000", "plays dated before 2000"),
    "bad_ms": ("row without a valid length", "rows without a valid length"),
    "negative_ms": ("play of negative length", "plays of negative length"),
    "absurd_ms": ("play longer than a day", "plays longer than a day"),
    "duplicate": ("repeated row", "repeated rows"),
    "now_playing": ("song playing right now", "songs playing right now"),
    "over_cap": ("play past the import limit", "plays past the import limit"),
    "no_plays": ("top track without plays", "top tracks without plays"),
    "unknown_track": ("play of an unknown song", "plays of unknown songs"),
}
FORMAT_WORDS = {
    EXTENDED: "extended streaming history",
    ACCOUNT_DATA: "account data streaming history (the last year)",
    "lastfm-recent": "Last.fm scrobbles",
    "lastfm-top": "Last.fm top tracks (undated)",
}


def size_text(size: int) -> str:
    """1.5 MB, 4 KB: a file size as a member reads it."""
    return f"{size / MB:.1f} MB" if size >= MB else f"{max(1, round(size / 1024))} KB"


def count_words(count: int, words: tuple[str, str]) -> str:
    return f"{count:,} {words[0] if count == 1 else words[1]}"


def reasons_text(reasons: Counter[str]) -> str:
    """Reasons and counts in words, biggest first: "12 podcast episodes, 3 repeated rows"."""
    return ", ".join(
        count_words(count, SKIP_WORDS.get(reason, (reason.replace("_", " "),) * 2))
        for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
        if count
    )


def summary_text(summary: HistoryImportSummary, what: str) -> str:
    """What an import did, in a few lines a member reads at a glance, and what next."""
    kind = FORMAT_WORDS.get(summary.format, summary.format)
    lines = [f"**{what} imported** ({kind})."]
    if summary.plays == 0:
        lines.append(
            "I found no song plays in it"
            + (f": {reasons_text(summary.skipped)}." if summary.skipped else ".")
        )
        return "\n".join(lines)
    matched = f"**{summary.matched:,}** of {summary.plays:,} plays matched songs"
    if summary.tracks_added:
        songs = count_words(summary.tracks_added, ("song", "songs"))
        matched += f" ({songs} new to me, added without sound details)"
    lines.append(f"🎧 {matched}.")
    if summary.new:
        stored = f"💾 **{summary.new:,}** new plays stored"
        if summary.already_stored:
            stored += f"; {summary.already_stored:,} were already here"
        lines.append(stored + ".")
    elif summary.matched:
        lines.append("💾 Nothing new: every play was already here from an earlier import.")
    if summary.unmatched:
        lines.append(f"❔ {summary.unmatched:,} plays matched no song I know.")
    if summary.skipped:
        lines.append(f"⏩ Skipped {reasons_text(summary.skipped)}.")
    if summary.new:
        lines.append("Next: run `/recommend`: your picks now start from what you play.")
    elif summary.matched:
        lines.append("Run `/recommend` for picks built from your listening.")
    return "\n".join(lines)


class Imports(commands.Cog):
    """The /import group: history files and Last.fm, one import per member at a time."""

    import_group = app_commands.Group(
        name="import", description="Bring your listening history so picks start from it"
    )

    def __init__(self, bot: EarwormBot) -> None:
        self.bot = bot
        self._importing: set[int] = set()
        settings = bot.settings
        self.lastfm: LastfmClient | None = None
        if settings.lastfm_api_key is not None:
            self.lastfm = LastfmClient(
                settings.lastfm_api_key.get_secret_value(),
                base_url=settings.lastfm_api_url,
                timeout=settings.lastfm_timeout,
            )

    def _start(self, user_id: int) -> None:
        if user_id in self._importing:
            raise UserFacingError(ALREADY_IMPORTING)
        self._importing.add(user_id)

    async def _store(
        self, user_id: int, parsed: ParsedHistory, source: PlaySource
    ) -> HistoryImportSummary:
        """One transaction through the writer; the engine hears of it when it committed."""
        summary = await self.bot.writer.run(
            lambda session: import_history(session, user_id, parsed, source)
        )
        if summary.new:
            self.bot.engine.feedback_changed(user_id)
        log.info(
            "imported a %s history for user %s: %d plays, %d new, %d tracks added",
            source.value,
            user_id,
            summary.plays,
            summary.new,
            summary.tracks_added,
        )
        return summary

    @import_group.command(name="spotify", description="Import your Spotify streaming history")
    @app_commands.describe(
        file="Your Spotify privacy export: the .zip, or a Streaming_History .json from it"
    )
    async def spotify(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        limit = self.bot.settings.import_max_bytes
        if file.size > limit:
            raise UserFacingError(
                f"That file is {size_text(file.size)}; I read at most {size_text(limit)}. "
                "Upload only the Streaming_History .json files, one at a time."
            )
        if file.size == 0:
            raise UserFacingError(f"That file is empty. {EXPORT_HOWTO}")
        user_id = interaction.user.id
        self._start(user_id)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            try:
                data = await file.read()
            except (discord.HTTPException, discord.NotFound):
                raise UserFacingError(
                    "Discord did not hand me the file. Upload it again."
                ) from None
            try:
                parsed = await asyncio.to_thread(parse_spotify_export, data, max_upload_bytes=limit)
            except HistoryError as exc:
                raise UserFacingError(str(exc)) from None
            finally:
                del data  # the upload lives only as long as parsing it
            summary = await self._store(user_id, parsed, PlaySource.SPOTIFY_EXPORT)
        finally:
            self._importing.discard(user_id)
        await interaction.followup.send(summary_text(summary, "Spotify history"), ephemeral=True)

    @import_group.command(name="lastfm", description="Import your Last.fm scrobbles")
    @app_commands.describe(username="Your Last.fm username (last.fm/user/<username>)")
    async def lastfm(
        self, interaction: discord.Interaction, username: app_commands.Range[str, 1, 64]
    ) -> None:
        if self.lastfm is None:
            raise UserFacingError(NO_LASTFM_KEY)
        user_id = interaction.user.id
        self._start(user_id)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            parsed, note = await self._lastfm_history(self.lastfm, username.strip())
            summary = await self._store(user_id, parsed, PlaySource.LASTFM)
        finally:
            self._importing.discard(user_id)
        text = summary_text(summary, f"Last.fm history of {escape(username.strip())}")
        await interaction.followup.send(f"{note}\n{text}" if note else text, ephemeral=True)

    async def _lastfm_history(
        self, client: LastfmClient, username: str
    ) -> tuple[ParsedHistory, str | None]:
        try:
            parsed, hidden = await asyncio.to_thread(
                run_apart, lambda: lastfm_history(client, username)
            )
        except LastfmError as exc:
            raise UserFacingError(lastfm_message(exc)) from None
        note = (
            "Your recent listening is hidden on Last.fm, so I imported your top tracks "
            "instead (play counts without dates)."
            if hidden
            else None
        )
        return parsed, note


def run_apart(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on an event loop of its own (in a worker thread), in an
    empty context. Paging through and parsing up to 50,000 scrobbles then never holds up
    the bot's loop, and nothing of the command's context comes along: its context variables
    (a test harness's virtual clock among them, SimCord's) belong to the bot's loop, and
    Last.fm's timeouts run on the real clock."""
    return contextvars.Context().run(asyncio.run, make())


async def lastfm_history(client: LastfmClient, username: str) -> tuple[ParsedHistory, bool]:
    """A Last.fm member's scrobbles, or, when their recent listening is hidden, their top
    tracks (True: the fallback was used). LastfmError when Last.fm gives neither: a hidden
    profile without top tracks raises the "hidden" error, which says what to change."""
    try:
        return await client.recent_tracks(username), False
    except LastfmError as exc:
        if exc.reason != "private":
            raise
        hidden = exc
    top = await client.top_tracks(username)
    if not top.plays:
        raise hidden
    return top, True


def lastfm_message(error: LastfmError) -> str:
    """Last.fm's failure (its message says when to retry, when Last.fm said) and what the
    member can do about it."""
    if error.reason == "bad_api_key":
        log.error("Last.fm refused LASTFM_API_KEY; /import lastfm fails until it is fixed")
    hint = LASTFM_HINTS.get(error.reason, "")
    return f"{escape(str(error))} {hint}".strip()


async def setup(bot: EarwormBot) -> None:
    await bot.add_cog(Imports(bot))

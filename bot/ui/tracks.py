"""Finding tracks from what a member typed: slash-command autocomplete and resolving an
option value (an autocompleted track id, a Spotify link, or free text) to one track."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.ui.cards import escape
from storage.dto import TrackSummary
from storage.repositories.tracks import get_tracks, search_tracks, spotify_track_id

# Discord shows at most 25 choices; a choice's name and value are at most 100 characters.
MAX_CHOICES = 25
MAX_CHOICE_TEXT = 100
# Longer input is no search anyone typed: cut it rather than search for it.
MAX_QUERY = 200


def choice_label(track: TrackSummary) -> str:
    label = f"{track.name} — {', '.join(track.artists)}"
    return label if len(label) <= MAX_CHOICE_TEXT else label[: MAX_CHOICE_TEXT - 1] + "…"


async def track_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Up to 25 catalog tracks matching what the member has typed so far; the value is the
    track id, so the command gets exactly the track that was picked."""
    query = current.strip()[:MAX_QUERY]
    if not query:
        return []
    database = interaction.client.database  # type: ignore[attr-defined]
    async with database.sessions() as session:
        tracks = await search_tracks(session, query, limit=MAX_CHOICES)
    return [app_commands.Choice(name=choice_label(track), value=track.id) for track in tracks]


async def resolve_track(interaction: discord.Interaction, value: str) -> TrackSummary:
    """The track an option names: an autocompleted id, a Spotify link or id, else the best
    search match for the text. Raises UserFacingError when nothing matches."""
    text = value.strip()[:MAX_QUERY]
    if not text:
        raise UserFacingError("Tell me a track: start typing its name and pick one from the list.")
    database = interaction.client.database  # type: ignore[attr-defined]
    async with database.sessions() as session:
        track_id = spotify_track_id(text)
        if track_id is not None:
            found = await get_tracks(session, [track_id])
            if found:
                return found[0]
        matches = await search_tracks(session, text, limit=1)
    if not matches:
        shown = escape(text[:60])
        raise UserFacingError(
            f"I couldn't find “{shown}” in the catalog. "
            "Try the song's name or artist and pick a suggestion from the list."
        )
    return matches[0]

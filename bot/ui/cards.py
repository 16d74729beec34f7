"""Recommendation cards: the embed that shows one pick of a PickList, the buttons under it,
and what the bot remembers about each card so feedback maps to the pick it showed.

A card holds every pick of its PickList (stored as "recommendations served", positions
0..n-1) and shows one at a time; ⏭️ moves it on in place. Reactions and buttons count for
the pick shown now. The buttons are DynamicItems whose custom ids name only the action:
the message they sit on is the key, so they keep working after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import discord
from sqlalchemy.ext.asyncio import AsyncSession

from bot.serving.picks import Pick, PickList
from bot.serving.writer import FeedbackWriter
from bot.ui.guard import guarded
from storage.database import Database
from storage.dto import TrackDetails
from storage.models import FeedbackKind, FeedbackSource, utcnow
from storage.repositories.feedback import FeedbackEvent, liked_on_message, remove_feedback
from storage.repositories.served import ServedItem, mark_shown, record_served, served_for_message
from storage.repositories.tracks import get_tracks, track_details

log = logging.getLogger(__name__)

SPOTIFY_GREEN = discord.Colour(0x1DB954)
# Discord's embed limits.
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELD = 1024
MAX_AUTHOR = 256

# The reactions the bot seeds on every card, in order, and what each one means.
CARD_REACTIONS: dict[str, FeedbackKind] = {
    "👍": FeedbackKind.LIKE,
    "❤️": FeedbackKind.LOVE,
    "👎": FeedbackKind.DISLIKE,
    "⏭️": FeedbackKind.SKIP,
}
# Clients send ❤️ and ⏭️ with or without the emoji variation selector; match both.
_VARIATION_SELECTOR = "\ufe0f"
_KIND_BY_BARE_EMOJI = {
    emoji.replace(_VARIATION_SELECTOR, ""): kind for emoji, kind in CARD_REACTIONS.items()
}

FEATURE_LABELS = {
    "danceability": "Dance",
    "energy": "Energy",
    "valence": "Mood",
    "acousticness": "Acoustic",
}
BAR_CELLS = 10

EMPTY_PICKS = (
    "I have nothing to show you right now. "
    "Tell me what you like with `/like`, or see what's popular with `/trending`."
)
EXPIRED_CARD = "This card has expired. Run `/recommend` for fresh picks."
LAST_PICK = "That was the last pick on this card. Run `/recommend` for more."
BUTTON_FAILED = "Something went wrong on my side, so that didn't work. Please press it again."


def reaction_kind(emoji: str) -> FeedbackKind | None:
    """The feedback a reaction emoji gives on a card, or None for any other emoji."""
    return _KIND_BY_BARE_EMOJI.get(emoji.replace(_VARIATION_SELECTOR, ""))


# --------------------------------------------------------------------------- the embed


# Control characters (NUL, terminal escapes, bells) and the bidirectional overrides that
# would reverse or garble the message around an echoed text.
_UNPRINTABLE = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def escape(text: str) -> str:
    """Catalog or member text, safe to show: no markdown, no pings, no control characters."""
    return discord.utils.escape_markdown(discord.utils.escape_mentions(printable(text)))


def printable(text: str) -> str:
    """`text` without control characters and bidirectional overrides."""
    return _UNPRINTABLE.sub("", text)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def feature_bar(value: float) -> str:
    filled = round(min(max(value, 0.0), 1.0) * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def model_label(kind: str, version: str | None) -> str:
    if not version:
        return kind
    return f"{kind} v{version}" if version.isdigit() else f"{kind} {version}"


def card_embed(
    track: TrackDetails,
    reason: str | None,
    *,
    heading: str | None,
    position: int,
    total: int,
    model_kind: str,
    model_version: str | None,
    album_art: str | None = None,
) -> discord.Embed:
    """The card showing `track`, pick `position` (0 first) of `total`."""
    title = f"{track.name} — {', '.join(track.artists)}"
    embed = discord.Embed(
        title=clip(escape(title), MAX_TITLE),
        url=track.url,
        description=clip(escape(reason), MAX_DESCRIPTION) if reason else None,
        colour=SPOTIFY_GREEN,
    )
    if heading:
        embed.set_author(name=clip(heading, MAX_AUTHOR))
    embed.add_field(name="Album", value=clip(escape(track.album or "—"), MAX_FIELD), inline=True)
    genres = ", ".join(track.genres[:5]) or "—"
    embed.add_field(name="Genres", value=clip(escape(genres), MAX_FIELD), inline=True)
    bars = [
        f"`{label:<8}` {feature_bar(track.features[name])}"
        for name, label in FEATURE_LABELS.items()
        if name in track.features
    ]
    if bars:
        embed.add_field(name="Sound", value="\n".join(bars), inline=False)
    embed.add_field(name="Listen", value=f"[▶️ 30-second preview]({track.player_url})", inline=False)
    if album_art:
        embed.set_thumbnail(url=album_art)
    embed.set_footer(
        text=f"Pick {position + 1} of {total} · {model_label(model_kind, model_version)}"
    )
    return embed


def pick_embed(picks: PickList, index: int, album_art: str | None = None) -> discord.Embed:
    pick: Pick = picks.picks[index]
    return card_embed(
        pick.track,
        pick.reason,
        heading=picks.title,
        position=index,
        total=len(picks),
        model_kind=picks.model_kind,
        model_version=picks.model_version,
        album_art=album_art,
    )


# ------------------------------------------------------------------ what a card holds


def database_of(client: discord.Client) -> Database:
    return client.database  # type: ignore[attr-defined, no-any-return]


def writer_of(client: discord.Client) -> FeedbackWriter:
    """The bot's single writer (bot/serving/writer.py): every feedback and card write goes there."""
    return client.writer  # type: ignore[attr-defined, no-any-return]


@dataclass(frozen=True, slots=True)
class Card:
    """A card message: its picks by position and which one it shows now."""

    message_id: int
    guild_id: int | None
    picks: tuple[ServedItem, ...]
    shown: int

    @property
    def current(self) -> ServedItem:
        return self.picks[self.shown]

    def showing(self, position: int) -> Card:
        return replace(self, shown=position)

    @classmethod
    def from_served(cls, items: list[ServedItem]) -> Card:
        shown = [item.position for item in items if item.shown_at is not None]
        first = items[0]
        return cls(first.message_id, first.guild_id, tuple(items), max(shown, default=0))


class CardIndex:
    """Cards by message id, in memory, so a reaction costs no lookup query.

    Misses go to the database once (restarts, old cards); messages that are no card are
    remembered too, since reactions on ordinary messages arrive through the same listener.
    Least recently used entries are dropped beyond `capacity`.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._cards: OrderedDict[int, Card | None] = OrderedDict()

    async def get(self, client: discord.Client, message_id: int) -> Card | None:
        if message_id in self._cards:
            self._cards.move_to_end(message_id)
            return self._cards[message_id]
        async with database_of(client).sessions() as session:
            items = await served_for_message(session, message_id)
        card = Card.from_served(items) if items else None
        # A card stored while we were reading wins over our (older) miss.
        if message_id not in self._cards:
            self._remember(message_id, card)
        return self._cards[message_id]

    def put(self, card: Card) -> None:
        self._remember(card.message_id, card)

    def forget(self, message_id: int | None = None) -> None:
        """Drop one message, or everything (after /forget-me deletes served rows)."""
        if message_id is None:
            self._cards.clear()
        else:
            self._cards.pop(message_id, None)

    def _remember(self, message_id: int, card: Card | None) -> None:
        self._cards[message_id] = card
        self._cards.move_to_end(message_id)
        while len(self._cards) > self.capacity:
            self._cards.popitem(last=False)


def card_index(client: discord.Client) -> CardIndex:
    """The bot's CardIndex, created on first use."""
    index = getattr(client, "card_index", None)
    if index is None:
        index = CardIndex()
        client.card_index = index  # type: ignore[attr-defined]
    return index


async def album_art(client: discord.Client, track_id: str) -> str | None:
    """The track's album art from Spotify when the bot has an enricher (`client.spotify`,
    optional: without credentials or when Spotify fails, cards show without art)."""
    spotify = getattr(client, "spotify", None)
    if spotify is None:
        return None
    info = await spotify.lookup(track_id)
    return info.album_art_url if info is not None else None


# ------------------------------------------------------------------ saving feedback


async def save_feedback(client: discord.Client, event: FeedbackEvent) -> bool:
    """Store one opinion; whether it was new (a repeated event is a no-op). The writer
    hands what it stored to the serving engine (bot.app wires it): the member's next picks
    reflect it."""
    return await writer_of(client).record(event)


async def drop_card_feedback(
    client: discord.Client,
    user_id: int,
    card: Card,
    kind: FeedbackKind,
    source: FeedbackSource,
) -> bool:
    """Undo the member's `kind` on the card: a removed reaction. The reaction was most
    likely given on the pick shown now; if not, it was on an earlier one."""
    positions = [card.shown, *(p for p in range(len(card.picks)) if p != card.shown)]

    async def remove_first(session: AsyncSession) -> bool:
        for position in positions:
            track_id = card.picks[position].track_id
            if await remove_feedback(session, user_id, card.message_id, track_id, kind, source):
                return True
        return False

    return await writer_of(client).run(remove_first)


# ----------------------------------------------------------------------- the buttons

_BUTTONS: dict[str, tuple[str, str, discord.ButtonStyle]] = {
    "like": ("Like", "👍", discord.ButtonStyle.secondary),
    "love": ("Love", "❤️", discord.ButtonStyle.secondary),
    "dislike": ("Dislike", "👎", discord.ButtonStyle.secondary),
    "next": ("Next", "⏭️", discord.ButtonStyle.primary),
}
_BUTTON_KINDS = {
    "like": FeedbackKind.LIKE,
    "love": FeedbackKind.LOVE,
    "dislike": FeedbackKind.DISLIKE,
}
_SAVED = {
    FeedbackKind.LIKE: "Saved: you like {name}. `/recommend` learns from it.",
    FeedbackKind.LOVE: "Saved: you love {name} ❤️ `/recommend` learns from it.",
    FeedbackKind.DISLIKE: "Saved: {name} is not for you. `/recommend` will show less like it.",
}
_ALREADY = {
    FeedbackKind.LIKE: "You already told me you like {name}.",
    FeedbackKind.LOVE: "You already told me you love {name}.",
    FeedbackKind.DISLIKE: "You already told me {name} is not for you.",
}


class CardButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"earworm:card:(?P<action>like|love|dislike|next)",
):
    """One of a card's buttons; any member may press it, for themselves."""

    def __init__(self, action: str) -> None:
        label, emoji, style = _BUTTONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"earworm:card:{action}"
            )
        )
        self.action = action

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> CardButton:
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        # Persistent buttons bypass views and the command tree: through the same gate.
        await guarded(interaction, lambda: self._press_or_apologise(interaction))

    async def _press_or_apologise(self, interaction: discord.Interaction) -> None:
        try:
            await self._press(interaction)
        except Exception:
            # discord.py would only log a failed dynamic item: the member must hear back.
            log.exception("the %s button failed on a card", self.action)
            await _apologise(interaction)

    async def _press(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        card = (
            await card_index(interaction.client).get(interaction.client, message.id)
            if message
            else None
        )
        if card is None:
            await interaction.response.send_message(EXPIRED_CARD, ephemeral=True)
        elif self.action == "next":
            await show_next(interaction, card)
        else:
            await rate_shown(interaction, card, _BUTTON_KINDS[self.action])


async def _apologise(interaction: discord.Interaction) -> None:
    try:
        if interaction.response.is_done():
            await interaction.followup.send(BUTTON_FAILED, ephemeral=True)
        else:
            await interaction.response.send_message(BUTTON_FAILED, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the member that a card button failed", exc_info=True)


def card_view() -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in _BUTTONS:
        view.add_item(CardButton(action))
    return view


async def _track_name(client: discord.Client, track_id: str) -> str:
    async with database_of(client).sessions() as session:
        found = await get_tracks(session, [track_id])
    return f"**{escape(found[0].name)}**" if found else "that song"


async def rate_shown(interaction: discord.Interaction, card: Card, kind: FeedbackKind) -> None:
    """Like, love or dislike the pick the card shows, for the member who pressed."""
    pick = card.current
    changed = await save_feedback(
        interaction.client,
        FeedbackEvent(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            track_id=pick.track_id,
            kind=kind,
            source=FeedbackSource.BUTTON,
            message_id=card.message_id,
        ),
    )
    name = await _track_name(interaction.client, pick.track_id)
    text = (_SAVED if changed else _ALREADY)[kind].format(name=name)
    await interaction.response.send_message(text, ephemeral=True)


async def show_next(interaction: discord.Interaction, card: Card) -> None:
    """Skip the shown pick (for the presser) and show the following one in place. Moving
    on from a pick you liked or loved on this card is not a skip: nothing is recorded."""
    client = interaction.client
    track_id = card.current.track_id
    async with database_of(client).sessions() as session:
        liked = await liked_on_message(session, interaction.user.id, card.message_id, track_id)
    if not liked:
        await save_feedback(
            client,
            FeedbackEvent(
                user_id=interaction.user.id,
                guild_id=interaction.guild_id,
                track_id=track_id,
                kind=FeedbackKind.SKIP,
                source=FeedbackSource.BUTTON,
                message_id=card.message_id,
            ),
        )
    following = card.shown + 1
    if following >= len(card.picks):
        await interaction.response.send_message(LAST_PICK, ephemeral=True)
        return
    # Acknowledge at once: album art may wait on Spotify longer than Discord waits for us.
    await interaction.response.defer()
    pick = card.picks[following]
    async with database_of(client).sessions() as session:
        details = await track_details(session, [pick.track_id])
    if not details:  # the catalog lost the track since the card was made
        await interaction.followup.send(EXPIRED_CARD, ephemeral=True)
        return
    old = (
        interaction.message.embeds[0]
        if interaction.message and interaction.message.embeds
        else None
    )
    embed = card_embed(
        details[0],
        pick.reason,
        heading=old.author.name if old else None,
        position=following,
        total=len(card.picks),
        model_kind=pick.model_kind,
        model_version=pick.model_version,
        album_art=await album_art(client, pick.track_id),
    )
    await interaction.edit_original_response(embed=embed, view=card_view())
    # Only once members can see it does the new pick take reactions.
    await writer_of(client).run(lambda session: mark_shown(session, card.message_id, following))
    card_index(client).put(card.showing(following))


# ------------------------------------------------------------------- sending a card


async def _reply(interaction: discord.Interaction, **fields: Any) -> discord.Message:
    fields["allowed_mentions"] = discord.AllowedMentions.none()
    if interaction.response.is_done():
        return await interaction.followup.send(wait=True, **fields)
    await interaction.response.send_message(**fields)
    return await interaction.original_response()


def _span(client: discord.Client, series: str) -> contextlib.AbstractContextManager[None]:
    """Time a stage of sending a card into the bot's timings, when it keeps them."""
    timings = getattr(client, "timings", None)
    return contextlib.nullcontext() if timings is None else timings.span(series)


def _store_picks(
    client: discord.Client, message_id: int, user_id: int, items: tuple[ServedItem, ...]
) -> None:
    """Queue the card's picks for the writer's next batch (urgent: before queued reactions,
    which then find them) without waiting: the member already sees the card. Until they
    are committed the engine leaves them out of the member's next /recommend itself."""
    engine = getattr(client, "engine", None)
    timings = getattr(client, "timings", None)
    queued = time.perf_counter()
    stored = writer_of(client).enqueue_urgent(lambda session: record_served(session, items))
    if engine is not None:
        engine.serving_card(user_id, message_id, [item.track_id for item in items])

    def done(future: asyncio.Future[Any]) -> None:
        if engine is not None:
            engine.card_stored(user_id, message_id)
        if timings is not None:
            timings.record("stage card-store", time.perf_counter() - queued)
        failure = None if future.cancelled() else future.exception()
        if failure is not None:  # the card stays shown; its reactions find it in memory
            log.error("could not store the picks of card %s", message_id, exc_info=failure)

    stored.add_done_callback(done)


_seeding: set[asyncio.Task[None]] = set()  # held so running seeding tasks are not collected


async def seed_reactions(message: discord.Message) -> None:
    """Put 👍 ❤️ 👎 ⏭️ under the card so members react with one click. Without the
    permission (or when Discord fails) the card still works through its buttons."""
    for emoji in CARD_REACTIONS:
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as exc:
            log.info("could not seed reactions on message %s: %s", message.id, exc)
            return


async def send_card(
    interaction: discord.Interaction, picks: PickList, album_art: str | None = None
) -> discord.Message:
    """Answer `interaction` with a card showing the first pick (or a friendly note when
    there are none), remember every pick for feedback, and seed the reactions."""
    notice = escape(picks.notice) if picks.notice else None
    if not picks.picks:
        text = f"{notice}\n{EMPTY_PICKS}" if notice else EMPTY_PICKS
        return await _reply(interaction, content=text)

    with _span(interaction.client, "stage card-reply"):
        message = await _reply(
            interaction, content=notice, embed=pick_embed(picks, 0, album_art), view=card_view()
        )
    now = utcnow()
    items = tuple(
        ServedItem(
            message_id=message.id,
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
            user_id=interaction.user.id,
            track_id=pick.track.id,
            position=position,
            model_kind=picks.model_kind,
            model_version=picks.model_version,
            reason=pick.reason,
            shown_at=now if position == 0 else None,
            created_at=now,
        )
        for position, pick in enumerate(picks.picks)
    )
    # Known at once: a reaction that arrives before the picks are stored still finds them.
    card_index(interaction.client).put(Card(message.id, interaction.guild_id, items, 0))
    _store_picks(interaction.client, message.id, interaction.user.id, items)
    # Seeding is four REST calls that Discord rate-limits per channel: the card is already
    # shown and its buttons work, so the command does not wait for them.
    task = asyncio.get_running_loop().create_task(seed_reactions(message))
    _seeding.add(task)
    task.add_done_callback(_seeding.discard)
    return message

"""Discord messages as plain terminal text, the way a member would read them in the app.

Pure functions over what the bot sent: a `discord.Message`, a SimCord `ResponseMessage`
or a SimCord `InteractionResult` (the reply and follow-ups to one command or button).
`earworm demo` prints its conversation with them. Embeds show as a bar-marked block
(author, title, description, fields, image, footer); buttons as `[👍 Like]`; reactions with
their counts; attachments by file name; markdown is read, not shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import discord

EMBED_BAR = "┃ "
FIELD_INDENT = "  "
# Discord markdown: [text](url) links, <t:unix:style> timestamps, **bold**, `code`.
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_ESCAPED = re.compile(r"\\([\\*_`~|>#\-\[\]()<@])")
_PLACEHOLDER = "\x00{}\x00"


class HasMessage(Protocol):
    """SimCord's ResponseMessage: a message the bot sent, read back as a discord.Message."""

    @property
    def message(self) -> discord.Message: ...


class HasReplies(Protocol):
    """SimCord's InteractionResult: the reply and follow-ups to one interaction."""

    @property
    def response(self) -> HasMessage | None: ...

    @property
    def followups(self) -> Sequence[HasMessage]: ...


MessageLike = discord.Message | HasMessage


def timestamp_text(seconds: int, style: str | None) -> str:
    """A Discord timestamp as the app would show it to a reader in UTC."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if style in {"t", "T"}:
        return moment.strftime("%H:%M UTC")
    if style in {"d", "D"}:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def plain(text: str) -> str:
    """Discord markdown as it reads: links as `text (url)`, timestamps as dates, no bold
    or code marks, escaped characters as themselves."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(1))
        return _PLACEHOLDER.format(len(kept) - 1)

    text = _ESCAPED.sub(keep, text)  # escaped marks are text, not markdown
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _TIMESTAMP.sub(lambda m: timestamp_text(int(m.group(1)), m.group(2)), text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    for index, value in enumerate(kept):
        text = text.replace(_PLACEHOLDER.format(index), value)
    return text


def _lines(text: str) -> list[str]:
    return plain(text).splitlines() or [""]


def field_lines(name: str, value: str, limit: int | None = None) -> list[str]:
    """`Name: value` on one line when the value is one line, else the value indented
    below; `limit` keeps the first lines of a long value and says how many were left out."""
    values = _lines(value)
    if limit is not None and len(values) > limit:
        left_out = len(values) - limit
        values = [*values[:limit], f"… and {left_out} more"]
    title = plain(name)
    if len(values) == 1:
        return [f"{title}: {values[0]}"]
    return [f"{title}:", *(FIELD_INDENT + line for line in values)]


def embed_lines(embed: discord.Embed, *, field_limit: int | None = None) -> list[str]:
    """One embed as a block of lines, each marked with the embed's bar."""
    body: list[str] = []
    if embed.author.name:
        body.append(plain(embed.author.name))
    if embed.title:
        title = plain(embed.title)
        body.append(f"{title}  <{embed.url}>" if embed.url else title)
    if embed.description:
        body.extend(_lines(embed.description))
    for field in embed.fields:
        body.extend(field_lines(field.name or "", field.value or "", field_limit))
    if embed.image.url:
        body.append(f"[image: {embed.image.url.removeprefix('attachment://')}]")
    if embed.footer.text:
        body.append(plain(embed.footer.text))
    return [EMBED_BAR + line if line else EMBED_BAR.rstrip() for line in body]


def _buttons(rows: Iterable[Any]) -> Iterable[Any]:
    for row in rows:
        yield from getattr(row, "children", [row])


def button_label(button: Any) -> str:
    """`[👍 Like]`; a link button shows where it goes; a disabled one is marked."""
    emoji = f"{button.emoji} " if getattr(button, "emoji", None) else ""
    text = f"[{emoji}{button.label or ''}".rstrip() + "]"
    if getattr(button, "url", None):
        text += f" <{button.url}>"
    if getattr(button, "disabled", False):
        text += " (disabled)"
    return text


def buttons_line(components: Sequence[Any]) -> str | None:
    """The message's buttons on one line, or None when it has none."""
    labels = [
        button_label(item) for item in _buttons(components) if isinstance(item, discord.Button)
    ]
    return " ".join(labels) if labels else None


def reactions_line(reactions: Sequence[discord.Reaction]) -> str | None:
    """`👍 2  ❤️ 1`: each reaction and how many put it there (the bot's own included)."""
    if not reactions:
        return None
    return "  ".join(f"{reaction.emoji} {reaction.count}" for reaction in reactions)


def as_message(message: MessageLike) -> discord.Message:
    return message if isinstance(message, discord.Message) else message.message


def message_lines(
    message: MessageLike, *, viewer: str | None = None, field_limit: int | None = None
) -> list[str]:
    """Everything a member sees of one message. `viewer` names who an ephemeral message
    is shown to; `field_limit` shortens long embed fields."""
    shown = as_message(message)
    lines: list[str] = []
    if shown.flags.ephemeral:
        lines.append(f"(only {viewer or 'the member who asked'} sees this)")
    if shown.content:
        lines.extend(_lines(shown.content))
    for embed in shown.embeds:
        lines.extend(embed_lines(embed, field_limit=field_limit))
    lines.extend(f"📎 {attachment.filename}" for attachment in shown.attachments)
    buttons = buttons_line(shown.components)
    if buttons:
        lines.append(buttons)
    reactions = reactions_line(shown.reactions)
    if reactions:
        lines.append(reactions)
    return lines


def _has_anything(message: discord.Message) -> bool:
    return bool(message.content or message.embeds or message.attachments or message.components)


def result_messages(result: HasReplies) -> list[discord.Message]:
    """The messages an interaction produced, in order: its reply (unless it is only the
    "thinking…" placeholder of a deferral) and its follow-ups."""
    messages = []
    if result.response is not None:
        reply = result.response.message
        if _has_anything(reply):
            messages.append(reply)
    messages.extend(followup.message for followup in result.followups)
    return messages


def result_lines(
    result: HasReplies, *, viewer: str | None = None, field_limit: int | None = None
) -> list[str]:
    """What the member sees after a command or a button press, message after message."""
    lines: list[str] = []
    for message in result_messages(result):
        if lines:
            lines.append("")
        lines.extend(message_lines(message, viewer=viewer, field_limit=field_limit))
    return lines

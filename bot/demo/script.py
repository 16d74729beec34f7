"""The scripted session `earworm demo` plays: the real bot in SimCord's simulated Discord.

In the server "Earworm fans", alice asks for help and picks, reacts with bob on her card,
moves it on, likes and rates songs; bob looks for songs like a famous one; carol (Manage
Server) checks on the bot and retrains ALS, the real training in a child process; then
alice's picks come from the new model, her profile shows her taste, and carol lists the
models. Every message prints as a member would read it (bot.demo.render).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import discord

from bot.demo.render import EMBED_BAR, message_lines, result_lines, result_messages
from storage.repositories.people import delete_user_data
from storage.repositories.served import served_for_message
from storage.repositories.tracks import get_tracks

# What alice types into the track options (she picks the first suggestion), and bob's
# famous song. A catalog without them gives its most popular tracks instead.
ALICE_LIKES = ("blinding lights weeknd", "shape of you ed sheeran", "don't start now dua lipa")
ALICE_RATES = "halo beyonce"
BOB_SIMILAR = "bohemian rhapsody queen"
HELP_LINES = 4  # /help lists every command; the demo shows the first few
MAX_WIDTH = 100
REPLY_INDENT = "    "
# Seconds of (simulated) time between two commands of the demo's conversation.
MEMBER_PAUSE_SECONDS = 5.0


# --- printing -------------------------------------------------------------------------------


@dataclass
class Conversation:
    """The terminal side: members' actions, the bot's replies and the narrator's notes."""

    echo: Callable[[str], None] = click.echo
    width: int = field(
        default_factory=lambda: min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns)
    )

    def heading(self, text: str) -> None:
        self.echo("")
        self.echo(click.style(f"── {text} ", bold=True).ljust(self.width, "─"))

    def note(self, text: str) -> None:
        """The narrator: what happens that no message shows."""
        for line in textwrap.wrap(text, self.width - 2, break_on_hyphens=False):
            self.echo(click.style(f"# {line}", dim=True))

    def action(self, member: str, text: str) -> None:
        self.echo("")
        self.echo(click.style(f"{member} ▸ ", fg="cyan", bold=True) + click.style(text, bold=True))

    def bot(self, lines: Sequence[str], label: str = "Earworm") -> None:
        self.echo(click.style(f"  {label} (bot)", fg="green", bold=True))
        if not lines:
            self.echo(f"{REPLY_INDENT}(no reply)")
        for line in lines:
            for wrapped in self._wrap(line):
                self.echo((REPLY_INDENT + wrapped).rstrip())

    def _wrap(self, line: str) -> list[str]:
        """Long lines wrapped to the terminal, keeping an embed's bar and indentation."""
        room = self.width - len(REPLY_INDENT)
        if len(line) <= room:
            return [line]
        prefix = EMBED_BAR if line.startswith(EMBED_BAR) else ""
        rest = line[len(prefix) :]
        indent = rest[: len(rest) - len(rest.lstrip())]
        return textwrap.wrap(
            rest,
            room,
            initial_indent=prefix,
            subsequent_indent=prefix + indent,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [line]


# --- the session ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CardPicks:
    """What one /recommend card held: its tracks and the model that picked them."""

    names: tuple[str, ...]
    ids: tuple[str, ...]
    model: str


@dataclass
class DemoOutcome:
    before: CardPicks | None = None
    after: CardPicks | None = None
    trained: bool = False
    training_note: str = ""
    profile: Path | None = None


@dataclass
class Session:
    """One run of the script against a started SimCord env whose bot is the real one."""

    env: Any  # simcord.Env
    data_dir: Path
    talk: Conversation
    outcome: DemoOutcome = field(default_factory=DemoOutcome)

    def __post_init__(self) -> None:
        self.guild = self.env.create_guild("Earworm fans")
        self.channel = self.guild.create_text_channel("music")
        self.alice = self.guild.add_member(self.env.create_user("alice"))
        self.bob = self.guild.add_member(self.env.create_user("bob"))
        admins = self.guild.create_role(
            "admins", permissions=discord.Permissions(manage_guild=True)
        )
        self.carol = self.guild.add_member(self.env.create_user("carol"), roles=[admins])
        self._used: set[str] = set()

    @property
    def bot(self) -> Any:
        return self.env.bot

    # --- helpers ----------------------------------------------------------------------

    async def slash(
        self, member: Any, command: str, shown: str | None = None, **options: Any
    ) -> Any:
        """`member` runs /command; prints what they typed and everything the bot answered."""
        typed = shown or " ".join([f"/{command}", *(f"{k}:{v}" for k, v in options.items())])
        self.talk.action(member.name, typed)
        # People read an answer before typing the next command (and the heavy commands
        # have a per-member cooldown): time moves on between commands, as it would.
        await self.env.advance_time(MEMBER_PAUSE_SECONDS)
        result = await member.slash(self.channel, command, **options)
        limit = HELP_LINES if command == "help" else None
        self.talk.bot(result_lines(result, viewer=member.name, field_limit=limit))
        return result

    async def choose_track(self, member: Any, command: str, typed: str) -> tuple[str, str] | None:
        """What `member` gets by typing `typed` into /command's track option and picking
        the first suggestion: (track id, label). A catalog without it: its most popular
        track not used yet; None when the demo has used every track."""
        choices = await member.autocomplete(self.channel, command, "track", typed)
        for choice in choices:
            if choice["value"] not in self._used:
                self._used.add(choice["value"])
                return choice["value"], choice["name"]
        serving = self.bot.engine.serving
        catalog = serving.catalog if serving is not None else None
        if catalog is None:
            return None
        for index in sorted(range(len(catalog)), key=lambda i: -catalog.popularity[i]):
            track = str(catalog.ids[index])
            if track not in self._used:
                self._used.add(track)
                return track, f"{catalog.names[index]} — {', '.join(catalog.artists[index])}"
        return None

    async def card_picks(self, card: discord.Message) -> CardPicks:
        """Every pick the card holds (it shows one at a time), from what the bot stored."""
        async with self.bot.database.sessions() as session:
            served = await served_for_message(session, card.id)
            tracks = {t.id: t for t in await get_tracks(session, [s.track_id for s in served])}
        ids = tuple(item.track_id for item in served)
        names = tuple(tracks[i].name if i in tracks else i for i in ids)
        footer = card.embeds[0].footer.text or "" if card.embeds else ""
        return CardPicks(names, ids, footer.partition(" · ")[2])

    def card_of(self, result: Any) -> discord.Message | None:
        for message in result_messages(result):
            if message.embeds and message.components:
                return message
        return None

    def show_card(self, card: discord.Message) -> None:
        """The card as it looks now (after reactions or an edit)."""
        from simcord.results import to_discord_message

        stored = self.env.backend.get_message(card.channel.id, card.id)
        self.talk.bot(message_lines(to_discord_message(self.env, stored)))

    # --- the script -------------------------------------------------------------------

    async def play(self) -> DemoOutcome:
        talk = self.talk
        talk.heading("Earworm fans › #music")
        talk.note(
            "A simulated Discord server with three members: alice, bob and carol "
            "(carol has Manage Server). Everything below is the real bot answering them."
        )
        await self.start_afresh()
        await self.slash(self.alice, "help")
        await self.first_card()
        await self.opinions()
        await self.slash(self.alice, "trending", scope="global")
        await self.admin_retrain()
        await self.second_card()
        await self.profile()
        await self.slash(self.carol, "admin models")
        return self.outcome

    async def start_afresh(self) -> None:
        """SimCord hands out the same ids on every run: forget what alice, bob and carol
        did in an earlier demo, so alice starts as a newcomer again."""
        async with self.bot.database.sessions() as session:
            deleted = 0
            for member in (self.alice, self.bob, self.carol):
                deleted += (await delete_user_data(session, member.id))["feedback"]
            await session.commit()
        if deleted:
            await self.bot.engine.reload()
            self.talk.note(
                f"(Their {deleted} opinions from an earlier demo run were deleted first, "
                "as /forget-me would: alice is new here again.)"
            )

    async def first_card(self) -> None:
        result = await self.slash(self.alice, "recommend")
        card = self.card_of(result)
        if card is None:
            self.talk.note("The catalog gave alice no card to react to; skipping the reactions.")
            return
        self.outcome.before = await self.card_picks(card)
        self.talk.note("alice reacts 👍 and bob reacts ❤️ on the card; each counts for them.")
        await self.alice.react(card, "👍")
        await self.bob.react(card, "❤️")
        self.show_card(card)
        self.talk.action("alice", "presses [⏭️ Next]")
        pressed = await self.alice.click(card, label="Next")
        self.talk.note("The card changes in place to the next pick:")
        self.talk.bot(result_lines(pressed, viewer="alice"))

    async def opinions(self) -> None:
        similar = await self.choose_track(self.bob, "similar", BOB_SIMILAR)
        if similar is not None:
            seed, label = similar
            await self.slash(self.bob, "similar", f"/similar track:{label}", track=seed)
        self._used.clear()  # bob's song is no reason for alice not to like it
        rated = await self.choose_track(self.alice, "rate", ALICE_RATES)
        if rated is not None:
            track, label = rated
            await self.slash(
                self.alice, "rate", f"/rate track:{label} stars:5", track=track, stars=5
            )
        for typed in ALICE_LIKES:
            liked = await self.choose_track(self.alice, "like", typed)
            if liked is None:
                self.talk.note("(The catalog has no more songs for alice to like.)")
                break
            track, label = liked
            await self.slash(self.alice, "like", f"/like track:{label}", track=track)

    async def admin_retrain(self) -> None:
        await self.slash(self.carol, "admin status")
        self.talk.note(
            "carol retrains ALS now (it also runs every night): the real training, in a child "
            "process, on every member's feedback. This takes a few seconds…"
        )
        result = await self.slash(self.carol, "admin retrain", model="als")
        titles = [e.title or "" for m in result_messages(result) for e in m.embeds]
        self.outcome.trained = any(title.endswith("finished") for title in titles)
        if not self.outcome.trained:
            self.outcome.training_note = (
                "Training was refused or failed (see carol's reply above): with this little "
                "feedback there is nothing to validate a model on. The bot keeps serving "
                "content similarity and popularity, which already use alice's likes."
            )
            self.talk.note(self.outcome.training_note)

    async def second_card(self) -> None:
        self.talk.note("alice asks again: her picks now come from what she and others liked.")
        result = await self.slash(self.alice, "recommend")
        card = self.card_of(result)
        if card is not None:
            self.outcome.after = await self.card_picks(card)

    async def profile(self) -> None:
        result = await self.slash(self.alice, "profile")
        for message in result_messages(result):
            for attachment in message.attachments:
                target = self.data_dir / "demo" / "profile.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(await attachment.read())
                self.outcome.profile = target
                self.talk.note(f"The radar chart alice sees is saved to {target}")
                return


def summary_lines(outcome: DemoOutcome) -> list[str]:
    """What changed for alice between her two cards, in words."""
    before, after = outcome.before, outcome.after
    if before is None or after is None:
        return ["alice got no second card to compare (the catalog is too small)."]
    new = [
        name for track, name in zip(after.ids, after.names, strict=True) if track not in before.ids
    ]
    lines = [
        f"before ({before.model}): {', '.join(before.names)}",
        f"after  ({after.model}): {', '.join(after.names)}",
    ]
    if before.model != after.model:
        lines.append(f"Her picks changed and now come from {after.model}: {len(new)} new.")
    elif new:
        lines.append(f"Her picks changed ({len(new)} new), from the same models.")
    else:
        lines.append("Her picks did not change (the catalog has nothing else to offer).")
    return lines

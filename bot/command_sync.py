"""Does Discord already have the bot's slash commands? (Decides whether start-up syncs.)

Discord answers "get commands" with more than the bot sent (ids, versions, its own
defaults for fields the bot left out) and leaves out what equals a default (`required:
false`, `nsfw: false`). Both sides are brought to one canonical form before comparing:
defaults dropped, localisations `{}` and `null` alike, commands in name order. A field the
bot does not send (`contexts`, `integration_types`, `dm_permission` when unset) is Discord's
to choose and is not compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Fields whose value is Discord's to fill in when the bot sends none.
DISCORD_DEFAULTS = ("contexts", "integration_types", "dm_permission")
# Fields that mean "false", "none" or "empty" when they are missing.
FALSE_WHEN_MISSING = ("required", "autocomplete", "nsfw")
LISTS = ("options", "choices", "channel_types")
LOCALISATIONS = ("name_localizations", "description_localizations")
OPTION_FIELDS = (
    "type",
    "name",
    "description",
    "required",
    "autocomplete",
    "choices",
    "options",
    "channel_types",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    *LOCALISATIONS,
)
CHOICE_FIELDS = ("name", "value", "name_localizations")
COMMAND_FIELDS = ("type", "name", "description", "nsfw", "options", *LOCALISATIONS)


def _canonical(value: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in fields:
        item = value.get(name)
        if name in FALSE_WHEN_MISSING:
            item = bool(item)
            if not item:
                continue
        elif name in LISTS or name in LOCALISATIONS:
            if not item:
                continue
            if name == "options":
                item = [_canonical(option, OPTION_FIELDS) for option in item]
            elif name == "choices":
                item = [_canonical(choice, CHOICE_FIELDS) for choice in item]
            elif name == "channel_types":
                item = sorted(item)
            else:
                item = dict(item)
        elif item is None:
            continue
        found[name] = item
    found.setdefault("type", 1)  # CHAT_INPUT
    return found


def _permissions(command: Mapping[str, Any]) -> str | None:
    value = command.get("default_member_permissions")
    return None if value is None else str(value)  # a string on the wire; ours may be an int


def _command_key(command: Mapping[str, Any]) -> tuple[int, str]:
    return int(command.get("type") or 1), str(command.get("name", ""))


def same_commands(
    local: Sequence[Mapping[str, Any]], registered: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether `registered` (what Discord returned) already matches `local` (the payloads
    the bot would sync): the same commands, options, choices, limits and permissions."""
    if len(local) != len(registered):
        return False
    theirs = {_command_key(command): command for command in registered}
    for mine in local:
        other = theirs.get(_command_key(mine))
        if other is None:
            return False
        if _canonical(mine, COMMAND_FIELDS) != _canonical(other, COMMAND_FIELDS):
            return False
        if _permissions(mine) != _permissions(other):  # null means everyone: always compared
            return False
        for name in DISCORD_DEFAULTS:
            wanted = mine.get(name)
            if wanted is None:
                continue
            have = other.get(name)
            if isinstance(wanted, list):
                wanted, have = sorted(wanted), sorted(have or [])
            if wanted != have:
                return False
    return True

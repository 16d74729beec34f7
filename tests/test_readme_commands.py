"""The README's command tables against the real command line: every `earworm ...` command
and sub-command a table names answers `--help`, and every command the CLI offers is in a
table. A renamed or removed command fails here before a reader finds out."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
# A command's words end at its first argument or option: PATH, QUERY, [--json], --k ...
WORD = re.compile(r"[a-z][a-z0-9-]*")


def table_commands(text: str) -> list[tuple[str, ...]]:
    """The command words of every `earworm ...` span in the first cell of a table row."""
    found: list[tuple[str, ...]] = []
    for line in text.splitlines():
        if not line.startswith("| `earworm"):
            continue
        first_cell = line.split(" | ")[0]
        for span in re.findall(r"`(earworm [^`]*)`", first_cell):
            words = []
            for token in span.split()[1:]:
                if not WORD.fullmatch(token):
                    break
                words.append(token)
            found.append(tuple(words))
    return found


COMMANDS = table_commands(README.read_text(encoding="utf-8"))


def test_the_tables_name_commands():
    assert len(COMMANDS) >= 20
    assert all(COMMANDS)  # each names at least one command word


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_every_command_in_the_readme_answers_help(words: tuple[str, ...]):
    result = CliRunner().invoke(main, [*words, "--help"], prog_name="earworm")

    assert result.exit_code == 0, f"`earworm {' '.join(words)}` is in the README: {result.output}"
    assert f"earworm {' '.join(words)}" in result.output.splitlines()[0]  # its usage line


def cli_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    names: set[tuple[str, ...]] = set()
    for name, command in group.commands.items():
        if command.hidden:
            continue
        names.add((*prefix, name))
        if isinstance(command, click.Group):
            names |= cli_commands(command, (*prefix, name))
    return names


def test_every_command_of_the_cli_is_in_the_readme():
    documented = set(COMMANDS)
    # A group is documented through its sub-commands (`earworm db upgrade` documents `db`).
    documented |= {words[:n] for words in COMMANDS for n in range(1, len(words))}
    missing = sorted(" ".join(words) for words in cli_commands(main) - documented)
    assert not missing, f"commands the README's tables do not name: {missing}"

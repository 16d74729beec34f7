"""`earworm bench <name>`: every benchmark, one command each (the machinery is in bot/bench/).

Each module of this package holds one benchmark's command (`command`); they share their
options through bot/cli/bench/options.py. Results, commands and machines are in docs/.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


@click.group()
def bench() -> None:
    """Benchmarks that print the figures the issues ask for (results in docs/)."""


for _module in pkgutil.iter_modules(__path__, f"{__name__}."):
    if _module.name.rsplit(".", 1)[-1] != "options":
        bench.add_command(importlib.import_module(_module.name).command)

COMMANDS = [bench]

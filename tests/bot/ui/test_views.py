"""Every view the bot sends passes the shutdown gate (bot/ui/guard.py): a structural check, so
a view added later cannot skip it."""

from __future__ import annotations

import importlib
import pkgutil

import discord

import bot
from bot.ui.guard import GuardedView


def all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def test_every_view_of_the_bot_is_guarded():
    for module in pkgutil.walk_packages(bot.__path__, f"{bot.__name__}."):
        if not module.name.endswith(".__main__"):  # that one runs the command line
            importlib.import_module(module.name)
    views = {
        view
        for view in all_subclasses(discord.ui.View)
        if view.__module__.startswith(f"{bot.__name__}.") and view is not GuardedView
    }
    assert len(views) >= 2  # /history's pages and the /forget-me confirmation at least
    unguarded = sorted(view.__qualname__ for view in views if not issubclass(view, GuardedView))
    assert not unguarded, f"views that bypass bot.ui.guard.GuardedView: {unguarded}"

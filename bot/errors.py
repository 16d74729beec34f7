"""Errors a slash command shows to the member who ran it (the central handler in bot.app
turns them into a short ephemeral reply). Anything else is a bug: logged, and the member
gets a generic apology with what to try next."""

from __future__ import annotations


class UserFacingError(Exception):
    """A request the bot cannot serve; the message is shown as is (short, friendly, and
    saying what to do next)."""

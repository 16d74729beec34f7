"""Errors a slash command shows to the member who ran it (the central handler in bot.app
turns them into a short ephemeral reply). Anything else is a bug: logged, and the member
gets a generic apology with what to try next."""

from __future__ import annotations

import math


class UserFacingError(Exception):
    """A request the bot cannot serve; the message is shown as is (short, friendly, and
    saying what to do next)."""


class BusyError(UserFacingError):
    """Every model-call slot stayed taken (bot.serving.engine): the member is asked to come back
    rather than queue without end. `retry_after` is in whole seconds, at least 1."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(f"I'm busy right now. Try again in {self.retry_after} s.")


class WriterBusyError(UserFacingError):
    """The feedback queue stayed full (bot.serving.writer): the database is behind."""

    def __init__(self) -> None:
        super().__init__("Lots of reactions right now; try again in a moment.")


class CommandError(Exception):
    """A command of the `earworm` CLI cannot go on; the message is its one `error:` line
    (bot/cli/common.py prints it and exits with status 2). For the benchmarks, the demo and
    the other machinery the commands run, which do not print errors themselves."""

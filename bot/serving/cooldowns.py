"""Per-member cooldowns on the heavy commands (those that score models or draw charts).

One budget for all of them: EARWORM_COOLDOWN_USES uses per EARWORM_COOLDOWN_SECONDS per
member, whichever heavy command they run (alternating commands does not multiply it);
0 seconds turns cooldowns off. The commands' check (bot/exts/_checks.py) takes a slot here;
a refused use reaches the central error handler in bot.app as CommandOnCooldown ("Easy
there! Try again in N s.").

A use counts only when the member is served: a command refused for bad input (or any
other UserFacingError: busy, unknown track) gives its slot back (`refund`), so a typo does
not cost a member their next try. Windows work as discord.py's own cooldown does: the
first use opens a window of `seconds`, and at most `uses` uses fit in it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Past this many members in memory, expired windows are dropped (bounded state).
PRUNE_PAST = 10_000


@dataclass
class _Window:
    opened: float
    used: int


class MemberCooldowns:
    """Each member's current window. One per bot: a restarted bot starts members afresh."""

    def __init__(self, uses: int, seconds: float) -> None:
        self.uses = uses
        self.seconds = seconds
        self._windows: dict[int, _Window] = {}

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def take(self, member: int, now: float) -> float | None:
        """Use one slot at `now` (seconds); None when taken, else seconds to wait."""
        window = self._windows.get(member)
        if window is None or now > window.opened + self.seconds:
            if len(self._windows) >= PRUNE_PAST:
                self._prune(now)
            window = self._windows[member] = _Window(now, 0)
        if window.used >= self.uses:
            return window.opened + self.seconds - now
        window.used += 1
        return None

    def refund(self, member: int) -> None:
        """Give back a slot taken by a use that served nothing."""
        window = self._windows.get(member)
        if window is None or window.used == 0:
            return
        window.used -= 1
        if window.used == 0:  # as if the use never happened: the next one opens a window
            del self._windows[member]

    def _prune(self, now: float) -> None:
        expired = [m for m, w in self._windows.items() if now > w.opened + self.seconds]
        for member in expired:
            del self._windows[member]

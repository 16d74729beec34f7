"""What a command hands to a recommendation card: ordered picks, each with its reason, and
which model made them. Shared by the engine (which makes them) and the cards (which show them).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.dto import TrackDetails


@dataclass(frozen=True, slots=True)
class Pick:
    track: TrackDetails
    reason: str


@dataclass(frozen=True, slots=True)
class PickList:
    """`title` heads the card ("Picks for you", "Sounds like Halo"); `model_kind` and
    `model_version` go to its footer and into "recommendations served"; `notice` is a
    short line for the user when something was left out (e.g. no trained model yet)."""

    title: str
    picks: tuple[Pick, ...]
    model_kind: str
    model_version: str | None = None
    notice: str | None = None

    def __len__(self) -> int:
        return len(self.picks)

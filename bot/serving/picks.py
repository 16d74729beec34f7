"""What a command hands to a recommendation card: ordered picks, each with its reason, and
which model made them. Shared by the engine (which makes them) and the cards (which show them).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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


@dataclass
class TrackDetailsCache:
    """Card details of the tracks shown lately, for one state of the catalog (`fingerprint`):
    a card reads the database only for tracks not shown since. Most recently used last; at
    most `size` tracks."""

    fingerprint: str
    size: int
    _details: OrderedDict[str, TrackDetails] = field(default_factory=OrderedDict)

    def get_many(self, ids: Sequence[str]) -> dict[str, TrackDetails]:
        found = {}
        for track_id in ids:
            details = self._details.get(track_id)
            if details is not None:
                self._details.move_to_end(track_id)
                found[track_id] = details
        return found

    def put_many(self, details: Iterable[TrackDetails]) -> None:
        for item in details:
            self._details[item.id] = item
            self._details.move_to_end(item.id)
        while len(self._details) > self.size:
            self._details.popitem(last=False)

"""What a command hands to a recommendation card: ordered picks, each with its reason, and
which model made them. Shared by the engine (which makes them) and the cards (which show them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.dto import CARD_FEATURES, TrackDetails

if TYPE_CHECKING:
    from recommender.data import ItemCatalog


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


@dataclass(frozen=True)
class CatalogCards:
    """Card details of every track of the catalog serving, worked out from the rows the
    engine read to build it (they hold all a card shows): a card reads no database for
    them. A track the snapshot lacks (imported since) is left out; the caller reads it."""

    catalog: ItemCatalog
    albums: Sequence[str | None]
    # (name, column of catalog.features) of each feature a card shows.
    features: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, catalog: ItemCatalog, albums: Sequence[str | None]) -> CatalogCards:
        if len(albums) != len(catalog):
            raise ValueError("one album entry per catalog track is needed")
        columns = {name: column for column, name in enumerate(catalog.feature_names)}
        shown = tuple((name, columns[name]) for name in CARD_FEATURES if name in columns)
        return cls(catalog, albums, shown)

    def get_many(self, ids: Sequence[str]) -> dict[str, TrackDetails]:
        found = {}
        catalog = self.catalog
        for track_id in ids:
            index = catalog.vocab.index(track_id)
            if index < 0:
                continue
            popularity = catalog.popularity[index]
            values = catalog.features[index]
            found[track_id] = TrackDetails(
                id=track_id,
                name=catalog.names[index],
                artists=tuple(catalog.artists[index]),
                album=self.albums[index],
                popularity=None if math.isnan(popularity) else int(popularity),
                genres=tuple(catalog.genres[index]),
                features={
                    name: float(values[column])
                    for name, column in self.features
                    if not math.isnan(values[column])
                },
            )
        return found

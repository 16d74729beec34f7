"""From the database's rows to the recommender's arrays (the composition layer's job)."""

from __future__ import annotations

import numpy as np

from recommender.data import Interactions, ItemCatalog
from recommender.feedback import feedback_weight
from storage.repositories.snapshots import CatalogRows, FeedbackRows


def item_catalog(rows: CatalogRows) -> ItemCatalog:
    names = tuple(rows.features)
    features = (
        np.column_stack([np.asarray(rows.features[name], dtype=float) for name in names])
        if len(rows)
        else np.zeros((0, len(names)))
    )
    return ItemCatalog(
        ids=np.asarray(rows.ids, dtype=np.str_),
        names=list(rows.names),
        artists=list(rows.artists),
        genres=list(rows.genres),
        popularity=np.asarray(
            [p if p is not None else np.nan for p in rows.popularity], dtype=float
        ),
        features=features,
        feature_names=names,
        years=release_years(rows.release_dates) if len(rows.release_dates) == len(rows) else None,
    )


def release_years(dates: list[str | None]) -> np.ndarray:
    """The year of each release date (YYYY, YYYY-MM or YYYY-MM-DD), NaN where unknown."""
    return np.asarray(
        [float(date[:4]) if date and date[:4].isdigit() else np.nan for date in dates],
        dtype=float,
    )


def interactions(rows: FeedbackRows) -> Interactions:
    """Feedback as weighted interactions (see recommender.feedback for the mapping)."""
    return Interactions.from_rows(
        [str(user) for user in rows.users],
        rows.tracks,
        [feedback_weight(kind, value) for kind, value in zip(rows.kinds, rows.values, strict=True)],
        [int(created.timestamp()) for created in rows.created_at],
    )

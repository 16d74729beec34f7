"""A tiny hand-made world for model contract tests: 30 tracks, 3 genres, 12 listeners."""

from __future__ import annotations

import numpy as np

from recommender.data import Interactions, ItemCatalog

FEATURES = ("danceability", "energy", "valence", "acousticness", "tempo")
GENRES = ("rock", "pop", "jazz")


def tiny_catalog() -> ItemCatalog:
    """Items i00..i29: genre by block of ten, audio features clustered by genre."""
    rng = np.random.default_rng(42)
    centres = {
        "rock": [0.4, 0.9, 0.5, 0.1, 140],
        "pop": [0.8, 0.7, 0.8, 0.2, 118],
        "jazz": [0.5, 0.3, 0.5, 0.9, 95],
    }
    ids, names, artists, genres, features = [], [], [], [], []
    for index in range(30):
        genre = GENRES[index // 10]
        ids.append(f"i{index:02d}")
        names.append(f"Song {index}")
        artists.append((f"Artist {index // 3}",))  # three tracks per artist
        genres.append((genre,))
        noise = rng.normal(0, [0.05, 0.05, 0.05, 0.05, 5])
        features.append(np.asarray(centres[genre]) + noise)
    return ItemCatalog(
        ids=np.asarray(ids),
        names=names,
        artists=artists,
        genres=genres,
        popularity=np.linspace(90, 10, 30),
        features=np.asarray(features, dtype=float),
        feature_names=FEATURES,
    )


def tiny_interactions() -> Interactions:
    """Users u00..u11: each likes tracks of one genre (by user % 3), some of another."""
    users, items, times = [], [], []
    clock = 1_700_000_000
    for user in range(12):
        block = user % 3
        for offset in range(6):
            users.append(f"u{user:02d}")
            items.append(f"i{block * 10 + (user + offset * 2) % 10:02d}")
            clock += 3600
            times.append(clock)
    return Interactions.from_rows(users, items, timestamps=times)

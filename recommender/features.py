"""How the audio features' categorical columns are encoded: shared by the content model
(recommender/content.py) and the learned track encoders (recommender/embeddings.py), which
both build on it, so neither imports the other for it."""

from __future__ import annotations

import numpy as np

from recommender.data import FloatArray

# Categorical features: their own encodings and weights (1.0 = one continuous feature).
KEY, MODE, TIME_SIGNATURE = "key", "mode", "time_signature"
CATEGORICAL_WEIGHTS = {KEY: 0.5, MODE: 0.5, TIME_SIGNATURE: 0.3}
FIFTH = 7  # semitones: stepping by fifths walks the circle of fifths


def categorical_columns(name: str, column: FloatArray) -> list[FloatArray] | None:
    """The weighted columns of a categorical feature; None for a continuous one."""
    if name == KEY:
        # Unit circle of fifths; a weight w puts opposite keys 2w apart. Spotify's -1
        # (no key detected) sits in the centre, equally far from every key.
        angle = 2 * np.pi * ((np.round(column) * FIFTH) % 12) / 12
        weight = CATEGORICAL_WEIGHTS[KEY] * (column >= 0)
        return [weight * np.cos(angle), weight * np.sin(angle)]
    if name == MODE:
        return [CATEGORICAL_WEIGHTS[MODE] * (column >= 0.5)]
    if name == TIME_SIGNATURE:
        return [CATEGORICAL_WEIGHTS[TIME_SIGNATURE] * (np.round(column) == 4)]
    return None

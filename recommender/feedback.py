"""How much each kind of feedback says about a member's taste.

Likes and loves are positive, a love more so; a rating maps 1..5 stars onto -1..+1.5
(three stars is a shrug, not a like); a skip is a weak negative (maybe just not now) and
a dislike a strong one. Models that need confidences (ALS) derive them from these weights.
"""

from __future__ import annotations

FEEDBACK_WEIGHTS = {"like": 1.0, "love": 2.0, "skip": -0.3, "dislike": -1.5}
RATING_WEIGHTS = {1: -1.5, 2: -0.5, 3: 0.1, 4: 1.0, 5: 2.0}


def feedback_weight(kind: str, value: int | None = None) -> float:
    if kind == "rating":
        if value not in RATING_WEIGHTS:
            raise ValueError(f"a rating needs 1 to 5 stars, got {value!r}")
        return RATING_WEIGHTS[value]
    try:
        return FEEDBACK_WEIGHTS[kind]
    except KeyError:
        raise ValueError(f"unknown feedback kind {kind!r}") from None

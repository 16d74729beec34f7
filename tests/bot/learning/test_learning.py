"""The learning loop's decisions and parts that need no training run (runs themselves are
tested through `earworm train` and /admin in tests/bot/test_train_cli.py and
tests/bot/guild/test_learning_loop.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.learning.run import decide, parse_kinds
from bot.learning.training import KINDS


def comparison(ours: float | None, theirs: float | None, version: int | None = 3) -> Any:
    return {
        "comparison": {
            "members": 12,
            "active_version": version,
            "candidate": {"ndcg@10": ours},
            "active": None if theirs is None else {"ndcg@10": theirs},
            "active_error": None if theirs is not None else "ArtifactError: checksum mismatch",
        }
    }


@pytest.mark.parametrize(
    ("ours", "theirs", "promoted"),
    [
        (0.30, 0.20, True),  # better
        (0.20, 0.20, True),  # level
        (0.181, 0.20, True),  # worse within the 10 % tolerance
        (0.17, 0.20, False),  # worse beyond it
        (0.0, 0.0, True),  # both find nothing: not worse
        (None, 0.1, False),  # no figure counts as nothing found
    ],
)
def test_a_candidate_is_promoted_unless_worse_beyond_the_tolerance(
    ours: float | None, theirs: float, promoted: bool
) -> None:
    decision, reason = decide(comparison(ours, theirs), tolerance=0.1)
    assert decision is promoted
    assert f"vs v3's {theirs:.3f} on the newest feedback of 12 members" in reason
    assert reason.endswith("worse beyond the 10% tolerance") is not promoted


def test_without_an_active_model_to_measure_the_candidate_is_promoted() -> None:
    assert decide({"comparison": None}, 0.1) == (
        True,
        "no active model to compare with (validated by leave-one-out)",
    )
    promoted, reason = decide(comparison(0.2, None, version=None), 0.1)
    assert promoted
    assert reason == "no active model to compare with; NDCG@10 0.200 on 12 members"
    promoted, reason = decide(comparison(0.2, None), 0.1)
    assert promoted  # an active model that cannot be loaded does not serve anyway
    assert reason == "v3 could not be measured (ArtifactError: checksum mismatch)"


def test_kinds_are_all_one_or_several_in_a_fixed_order() -> None:
    assert parse_kinds("all") == KINDS
    assert parse_kinds("ncf,als") == ("als", "ncf")
    assert parse_kinds(["hybrid"]) == ("hybrid",)
    for bad in ("bpr", "", "als,bpr"):
        with pytest.raises(ValueError, match="unknown model"):
            parse_kinds(bad)

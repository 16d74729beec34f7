"""What the serving hybrid is composed from: each member's most recent rows feed content."""

from __future__ import annotations

import numpy as np

from bot.serving.active_models import recent_rows
from recommender.data import Interactions


def test_recent_rows_keeps_each_members_newest() -> None:
    rows = Interactions.from_rows(
        ["a", "b", "a", "a", "b", "c"],
        ["1", "2", "3", "4", "5", "6"],
        [1, 1, 1, 1, 1, 1],
        [10, 50, 30, 20, 40, 5],
    )
    kept = recent_rows(rows, per_user=2)
    pairs = sorted(zip(kept.users.tolist(), kept.items.tolist(), strict=True))
    assert pairs == [("a", "3"), ("a", "4"), ("b", "2"), ("b", "5"), ("c", "6")]
    assert len(recent_rows(rows, per_user=10)) == len(rows)
    empty = Interactions.from_rows([], [])
    assert len(recent_rows(empty, per_user=2)) == 0


def test_a_heavy_member_is_capped() -> None:
    count = 500
    rows = Interactions.from_rows(
        [*(["heavy"] * count), "light"],
        [*(str(i) for i in range(count)), "x"],
        np.ones(count + 1),
        [*range(count), 0],
    )
    kept = recent_rows(rows, per_user=200)
    heavy = kept.timestamps[kept.users == "heavy"]
    assert len(heavy) == 200
    assert heavy.min() == count - 200  # the newest 200
    assert (kept.users == "light").sum() == 1


def test_the_serving_als_scores_members_from_their_current_feedback() -> None:
    from bot.serving.active_models import FOLDED_WARM_FROM, ActiveModels, compose_hybrid
    from recommender.als import ALS
    from recommender.content import ContentSimilarity
    from tests.recommender.tiny import tiny_catalog, tiny_interactions

    catalog, trained = tiny_catalog(), tiny_interactions()
    als = ALS(factors=4, regularization=0.1, alpha=10.0, scaling="log", iterations=10)
    active = ActiveModels({"als": als.fit(trained)}, {"als": 1}, {}, None, "defaults")
    content = ContentSimilarity(seed=0).fit(trained, catalog)
    newcomer = ["i20", "i21", "i22"][:FOLDED_WARM_FROM]
    now = Interactions.from_rows(
        [*trained.users.tolist(), *["newcomer"] * len(newcomer)],
        [*trained.items.tolist(), *newcomer],
    )
    hybrid, _ = compose_hybrid(active, content, now, catalog)
    assert hybrid.tier_of("newcomer") == "warm"  # ALS serves from FOLDED_WARM_FROM likes
    served = hybrid.components["als"].score_users(["newcomer"])[0]
    assert not np.allclose(served, als.score_users(["newcomer"])[0])  # not the fallback


def test_a_member_served_alone_gets_what_the_hybrid_of_everyone_gives_them() -> None:
    """The per-member engine (the shared hybrid of no member, plus one member's side) picks
    what the hybrid composed from everyone's feedback picks, for every member: same tracks,
    same order, same reasons, the same scores."""
    from bot.serving.active_models import ActiveModels, compose_base, compose_hybrid
    from bot.serving.members import member_components
    from recommender.als import ALS
    from recommender.artists import ArtistRelations
    from recommender.content import ContentSimilarity
    from recommender.popularity import Popularity
    from tests.recommender.tiny import tiny_catalog, tiny_interactions

    catalog, feedback = tiny_catalog(), tiny_interactions()
    feedback = feedback.subset(catalog.vocab.indices(feedback.items.tolist()) >= 0)
    als = ALS(factors=4, regularization=0.1, alpha=10.0, scaling="log", iterations=10)
    active = ActiveModels({"als": als.fit(feedback)}, {"als": 1}, {}, None, "defaults")
    content = ContentSimilarity(seed=0).fit(feedback, catalog)
    relations = ArtistRelations().fit(feedback, catalog)  # the ones serving, shared
    everyone, _ = compose_hybrid(active, content, feedback, catalog, relations)
    assert "artists" in everyone.components

    fitted = Popularity().fit(feedback)  # what the bot's crowd counts, from everyone
    counts = np.zeros(len(catalog))
    positions = catalog.vocab.indices(fitted.item_vocab.ids.tolist())
    counts[positions[positions >= 0]] = fitted.score_users(["-"])[0][positions >= 0]
    popularity = Popularity.from_counts(catalog.vocab, counts)
    base, _ = compose_base(active, content, catalog, popularity, relations)

    for member in [*feedback.user_vocab.ids.tolist(), "stranger"]:
        mine = feedback.subset(feedback.users == member)
        alone = base.with_member(mine, member_components(base, mine, content.with_mode("genre")))
        expected = everyone.recommend(member, 5)
        found = alone.recommend(member, 5)
        assert [r.item for r in found] == [r.item for r in expected], member
        assert [r.reason for r in found] == [r.reason for r in expected], member
        np.testing.assert_allclose(
            [r.score for r in found], [r.score for r in expected], rtol=1e-6, atol=1e-9
        )
        assert alone.tier_of(member) == everyone.tier_of(member)

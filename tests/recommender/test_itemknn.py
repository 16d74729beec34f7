from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import itemknn
from recommender.data import Interactions
from recommender.evaluation.runner import EvaluationData, evaluate_model
from recommender.evaluation.splits import Split, leave_one_out
from recommender.itemknn import NEIGHBOUR_GRID, ItemKNN, cosine_neighbours
from tests.recommender.contract import RecommenderContract


class TestItemKNN(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ItemKNN:
        return ItemKNN(seed=seed)  # neighbours chosen on a validation split


class TestItemKNNWithGivenNeighbours(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ItemKNN:
        return ItemKNN(neighbours=3, seed=seed)


@pytest.fixture
def three_listeners() -> Interactions:
    """a and b like x and y, c likes x and z: as vectors over (a, b, c),
    x = (1, 1, 1), y = (1, 1, 0), z = (0, 0, 1)."""
    return Interactions.from_rows(["a", "a", "b", "b", "c", "c"], ["x", "y", "x", "y", "x", "z"])


SIM_XY = 2 / (math.sqrt(3) * math.sqrt(2))  # 0.816
SIM_XZ = 1 / math.sqrt(3)  # 0.577


def test_cosine_similarity_by_hand(three_listeners: Interactions) -> None:
    model = ItemKNN().fit(three_listeners)
    assert [(r.item, r.score) for r in model.similar_items("x", 5)] == [
        ("y", pytest.approx(SIM_XY)),
        ("z", pytest.approx(SIM_XZ)),
    ]
    assert [r.item for r in model.similar_items("y", 5)] == ["x"]  # y and z share no one
    assert model.similar_items("x", 1)[0].reason == "people who like x also like this"


def test_scores_sum_the_similarity_to_each_liked_item(three_listeners: Interactions) -> None:
    model = ItemKNN().fit(three_listeners)
    # c likes x and z: y scores sim(x, y) + sim(z, y) = SIM_XY; x and z are seen.
    results = model.recommend("c", 5)
    assert [(r.item, r.score) for r in results] == [("y", pytest.approx(SIM_XY))]
    assert results[0].reason == "people who like x also like this"
    # a likes x and y: z is reached through x only.
    assert [(r.item, r.score) for r in model.recommend("a", 5)] == [("z", pytest.approx(SIM_XZ))]


def test_each_item_keeps_only_its_nearest_neighbours(three_listeners: Interactions) -> None:
    model = ItemKNN(neighbours=1).fit(three_listeners)
    assert [r.item for r in model.similar_items("x", 5)] == ["y"]
    # a likes x and y; x's single neighbour is y and y's is x, so no neighbour reaches z:
    # it comes from popularity (1 of 3 listeners), below any neighbour score.
    results = model.recommend("a", 5)
    assert [(r.item, r.score) for r in results] == [("z", pytest.approx(1 / 4 - 1))]
    assert results[0].reason == "popular: 1 listener liked it"


def test_neighbour_cut_ties_go_to_the_lower_index() -> None:
    # Item 0 is equally similar to items 1, 2 and 3 (all share user 0 only).
    matrix = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 1, 1, 1]], dtype=float))
    pruned = cosine_neighbours(matrix, 2)
    assert pruned[0].indices.tolist() == [1, 2]
    assert pruned.diagonal().tolist() == [0, 0, 0, 0]


def test_dislikes_do_not_make_neighbours_but_are_never_recommended() -> None:
    data = Interactions.from_rows(
        ["a", "a", "b", "b", "c", "c"], ["x", "y", "x", "y", "x", "y"], [1, -1, 1, -1, 1, 1]
    )
    model = ItemKNN().fit(data)
    # Only c likes y: sim(x, y) = 1 / sqrt(3) over positive feedback.
    assert model.similar_items("x", 5)[0].score == pytest.approx(1 / math.sqrt(3))
    assert model.recommend("a", 5) == []  # a disliked y: it is seen, not offered
    assert [r.item for r in model.recommend("c", 5)] == []


def test_log_weighting_favours_heavy_plays() -> None:
    # x: a, b, c once each; y: a 1,000 times and d once; z: b and d once each.
    data = Interactions.from_rows(
        ["a", "b", "c", "a", "d", "b", "d"],
        ["x", "x", "x", "y", "y", "z", "z"],
        [1, 1, 1, 1000, 1, 1, 1],
    )
    binary = ItemKNN(weighting="binary").fit(data)
    logged = ItemKNN(weighting="log").fit(data)
    # Binary: y and z each share one of two listeners with x: 1 / (sqrt 3 sqrt 2) both.
    assert [r.score for r in binary.similar_items("x", 2)] == pytest.approx([1 / math.sqrt(6)] * 2)
    # Log: y's vector is mostly a's 1,000 plays, and a listens to x.
    heavy, light = np.log1p(1000), np.log1p(1)
    expected_y = heavy / (math.sqrt(3) * math.hypot(heavy, light))
    assert [(r.item, r.score) for r in logged.similar_items("x", 2)] == [
        ("y", pytest.approx(expected_y)),
        ("z", pytest.approx(1 / math.sqrt(6))),
    ]


def test_users_without_likes_get_popularity(three_listeners: Interactions) -> None:
    model = ItemKNN().fit(three_listeners)
    results = model.recommend("stranger", 3)
    assert [(r.item, r.score) for r in results] == [("x", 3.0), ("y", 2.0), ("z", 1.0)]
    assert results[0].reason == "popular: 3 listeners liked it"


@pytest.mark.parametrize(
    "bad",
    [
        {"neighbours": 0},
        {"neighbours": "many"},
        {"neighbours": True},
        {"weighting": "tfidf"},
        {"grid": ()},
        {"grid": (10, 0)},
    ],
)
def test_bad_parameters(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        ItemKNN(**bad)  # type: ignore[arg-type]


# --- choosing the number of neighbours ---------------------------------------------------


def listeners(seed: int, users: int = 60, items: int = 40) -> Interactions:
    """Random listening in three taste clusters, with repeated plays and some dislikes."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, float]] = []
    for user in range(users):
        cluster = user % 3
        for _ in range(rng.integers(1, 12)):
            own = rng.random() < 0.8
            item = rng.integers(0, items // 3) + (cluster if own else rng.integers(0, 3)) * (
                items // 3
            )
            rows.append((f"u{user}", f"i{item}", float(rng.choice([1, 1, 1, 4, -1]))))
    users_, items_, weights = zip(*rows, strict=True)
    return Interactions.from_rows(list(users_), list(items_), list(weights))


def concat(first: Interactions, second: Interactions) -> Interactions:
    return Interactions(
        users=np.concatenate([first.users, second.users]),
        items=np.concatenate([first.items, second.items]),
        weights=np.concatenate([first.weights, second.weights]),
        timestamps=np.concatenate([first.timestamps, second.timestamps]),
    )


def pairs(interactions: Interactions) -> set[tuple[str, str]]:
    return set(zip(interactions.users.tolist(), interactions.items.tolist(), strict=True))


def positive_pairs(interactions: Interactions) -> set[tuple[str, str]]:
    totals: dict[tuple[str, str], float] = {}
    for pair, weight in zip(
        zip(interactions.users.tolist(), interactions.items.tolist(), strict=True),
        interactions.weights.tolist(),
        strict=True,
    ):
        totals[pair] = totals.get(pair, 0.0) + weight
    return {pair for pair, total in totals.items() if total > 0}


@pytest.fixture
def validation_splits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Interactions, Split]]:
    """Every call tuning makes to `validation_split`: what it was given, what it got."""
    calls: list[tuple[Interactions, Split]] = []
    real = itemknn.validation_split

    def spy(interactions: Interactions, seed: int) -> Split:
        split = real(interactions, seed)
        calls.append((interactions, split))
        return split

    monkeypatch.setattr(itemknn, "validation_split", spy)
    return calls


def test_tuning_validates_on_the_training_interactions_only(
    validation_splits: list[tuple[Interactions, Split]],
) -> None:
    everything = listeners(0)
    outer = leave_one_out(everything, seed=0)  # what an evaluation would test on
    model = ItemKNN(seed=0).fit(outer.train)

    [(given, split)] = validation_splits
    assert given is outer.train
    held = pairs(split.test)
    assert held  # something was validated on
    assert held <= positive_pairs(outer.train)
    assert held.isdisjoint(pairs(outer.test))
    assert held.isdisjoint(pairs(split.train))
    assert pairs(split.train) | held == pairs(outer.train)
    # One held-out pair per user with at least two positive pairs, and only those.
    users = split.test.users.tolist()
    assert len(users) == len(set(users))
    counts: dict[str, int] = {}
    for user, _ in positive_pairs(outer.train):
        counts[user] = counts.get(user, 0) + 1
    assert set(users) == {user for user, count in counts.items() if count >= 2}

    assert model.tuning is not None
    assert model.chosen_neighbours in NEIGHBOUR_GRID
    assert model.tuning["chosen"] == model.chosen_neighbours
    assert model.tuning["validation_users"] == len(users)
    assert [row["neighbours"] for row in model.tuning["table"]] == list(NEIGHBOUR_GRID)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_validation_table_is_what_the_harness_reports(seed: int) -> None:
    """Each row equals `earworm eval` of that size fitted on the validation train rows."""
    interactions = listeners(seed)
    grid = (1, 2, 3, 5, "all")
    model = ItemKNN(seed=seed, grid=grid).fit(interactions)
    split = itemknn.validation_split(interactions, seed)
    assert model.tuning is not None
    for row in model.tuning["table"]:
        reference = ItemKNN(neighbours=row["neighbours"]).fit(split.train)
        expected = evaluate_model(reference, EvaluationData(split.train, split.test), 10)
        assert row["hr@10"] == pytest.approx(expected["hr@10"], abs=1e-12)
        assert row["ndcg@10"] == pytest.approx(expected["ndcg@10"], abs=1e-12)
    best = max(row["ndcg@10"] for row in model.tuning["table"])
    first_best = next(row for row in model.tuning["table"] if row["ndcg@10"] == best)
    assert model.chosen_neighbours == first_best["neighbours"]


def test_held_out_ranks_match_a_dense_ranking() -> None:
    """The sparse ranks equal the pessimistic ranks of the dense score rows, item by item."""
    from recommender.evaluation import metrics

    # Five more users, each with a common item and one no one else has: some of those are
    # held out, unknown to a model fitted on the rest.
    loners = Interactions.from_rows(
        [f"v{user}" for user in range(5) for _ in range(2)],
        [item for user in range(5) for item in ("i0", f"mine{user}")],
    )
    interactions = concat(listeners(5), loners)
    split = itemknn.validation_split(interactions, 5)
    model = ItemKNN(neighbours=2).fit(split.train)
    users = model._users.indices(split.test.users.tolist())
    held = model.item_vocab.indices(split.test.items.tolist())
    ranks = itemknn.held_out_ranks(
        model._profiles[users] @ model._similarity,
        model._seen[users],
        held,
        model._popularity,
    )
    scores = model.score_users(split.test.users.tolist())
    relevant = np.zeros(scores.shape, dtype=bool)
    known = held >= 0
    relevant[np.flatnonzero(known), held[known]] = True
    candidates = model._seen[users].toarray() == 0
    dense = metrics.rank_relevant(scores, relevant, candidates)
    expected = np.full(len(held), np.inf)
    expected[dense.row] = dense.rank
    reached = np.zeros(len(held), dtype=bool)
    reached[known] = scores[np.flatnonzero(known), held[known]] > 0
    # Every case occurs: unknown, reached by a neighbour, ranked by popularity below them.
    assert (~known).any()
    assert reached.any()
    assert (known & ~reached).any()
    assert np.isinf(ranks[~known]).all()
    assert ranks.tolist() == expected.tolist()


def test_ties_go_to_the_smaller_size() -> None:
    # No item shares a user with more than two others: 2, 5 and "all" keep the same
    # neighbours and score the same.
    interactions = Interactions.from_rows(
        ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"],
        ["x", "y", "x", "y", "y", "z", "y", "z", "z", "w"],
    )
    model = ItemKNN(grid=("all", 5, 2)).fit(interactions)
    assert model.tuning is not None
    table = model.tuning["table"]
    assert [row["neighbours"] for row in table] == [2, 5, "all"]  # smallest first
    assert len({(row["hr@10"], row["ndcg@10"]) for row in table}) == 1
    assert model.chosen_neighbours == 2


def test_nobody_to_validate_on_takes_the_smallest_size() -> None:
    single = Interactions.from_rows(["a", "b", "c"], ["x", "x", "y"])  # one item per user
    model = ItemKNN().fit(single)
    assert model.tuning is not None
    assert model.tuning["validation_users"] == 0
    assert model.chosen_neighbours == min(size for size in NEIGHBOUR_GRID if size != "all")
    assert all(row["ndcg@10"] is None for row in model.tuning["table"])
    assert ItemKNN().fit(Interactions.from_rows([], [])).recommend("a", 3) == []


def test_same_seed_same_choice_other_seed_other_validation_split() -> None:
    interactions = listeners(7)
    first = ItemKNN(seed=3).fit(interactions)
    second = ItemKNN(seed=3).fit(interactions)
    assert first.tuning == second.tuning
    assert (first._similarity != second._similarity).nnz == 0
    held = {seed: pairs(itemknn.validation_split(interactions, seed).test) for seed in (3, 4)}
    assert held[3] != held[4]
    assert ItemKNN(seed=4).fit(interactions).tuning["seed"] == 4  # type: ignore[index]


@pytest.mark.parametrize("neighbours", [1, "all"])
def test_given_neighbours_are_used_without_tuning_and_saved(
    neighbours: int | str,
    validation_splits: list[tuple[Interactions, Split]],
    tmp_path: Path,
) -> None:
    interactions = listeners(1)
    model = ItemKNN(neighbours=neighbours).fit(interactions)  # type: ignore[arg-type]
    assert validation_splits == []  # no validation split was even drawn
    assert model.tuning is None
    assert model.chosen_neighbours == neighbours
    per_row = np.diff(model._similarity.indptr)
    if neighbours == "all":
        full = cosine_neighbours(model._profiles, len(model.item_vocab))
        assert (model._similarity != full).nnz == 0
    else:
        assert per_row.max() == 1

    loaded = ItemKNN.load(model.save(tmp_path / "model"))
    assert loaded.neighbours == neighbours
    assert loaded.chosen_neighbours == neighbours
    assert loaded.tuning is None
    assert (loaded._similarity != model._similarity).nnz == 0


def test_the_choice_and_its_table_are_saved(tmp_path: Path) -> None:
    model = ItemKNN(seed=2).fit(listeners(2))
    loaded = ItemKNN.load(model.save(tmp_path / "model"))
    assert loaded.neighbours is None
    assert loaded.seed == 2
    assert loaded.chosen_neighbours == model.chosen_neighbours
    assert loaded.tuning == model.tuning
    assert loaded.grid == model.grid
    user = str(listeners(2).users[0])
    assert loaded.recommend(user, 10) == model.recommend(user, 10)

"""Vocabulary: ids to dense indices, one by one or in bulk, the same either way."""

from __future__ import annotations

import numpy as np

from recommender.vocab import LOOKUP_CHUNK, Vocabulary


def test_few_and_many_ids_map_alike() -> None:
    vocab = Vocabulary(f"t{i}" for i in range(1_000))
    many = [f"t{i}" for i in range(0, 100_000, 3)] + ["nope", ""]
    assert len(many) > 2 * LOOKUP_CHUNK
    bulk = vocab.indices(many)
    one_by_one = np.concatenate([vocab.indices(many[i : i + 10]) for i in range(0, len(many), 10)])
    np.testing.assert_array_equal(bulk, one_by_one)
    assert bulk.dtype == one_by_one.dtype == np.int64
    assert bulk[0] == 0
    assert bulk[-1] == -1
    assert bulk[1] == 3
    assert (bulk[334:-2] == -1).all()  # t1002 and on are unknown


def test_ids_of_any_kind_are_read_as_text() -> None:
    vocab = Vocabulary(["1", "2", "3"])
    assert vocab.indices([3, 1, 7]).tolist() == [2, 0, -1]
    assert vocab.indices(np.asarray([3, 1, 7])).tolist() == [2, 0, -1]
    assert vocab.indices(iter(["2"])).tolist() == [1]
    assert vocab.indices([]).tolist() == []
    big = np.arange(LOOKUP_CHUNK + 5) % 4
    assert vocab.indices(big).tolist() == [[-1, 0, 1, 2][k] for k in big.tolist()]


def test_a_vocabulary_keeps_the_first_of_repeated_ids_in_order() -> None:
    for ids in (["b", "a", "b", "c", "a"], np.asarray(["b", "a", "b", "c", "a"]), iter("babca")):
        vocab = Vocabulary(ids)
        assert vocab.ids.tolist() == ["b", "a", "c"]
        assert [vocab.index(i) for i in "abcz"] == [1, 0, 2, -1]
        assert len(vocab) == 3


def test_a_vocabulary_from_a_text_array_owns_its_ids() -> None:
    ids = np.asarray(["x", "y", "z"])
    vocab = Vocabulary(ids)
    ids[0] = "changed"
    assert vocab.ids.tolist() == ["x", "y", "z"]
    assert vocab.index("x") == 0
    assert Vocabulary(np.asarray([1, 2, 2, 3])).ids.tolist() == ["1", "2", "3"]
    assert Vocabulary([]).ids.tolist() == []

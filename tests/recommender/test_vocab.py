"""Vocabulary: ids to dense indices, one by one or in bulk, the same either way."""

from __future__ import annotations

import numpy as np

from recommender.vocab import DICT_LOOKUP_UP_TO, Vocabulary


def test_few_and_many_ids_map_alike() -> None:
    vocab = Vocabulary(f"t{i}" for i in range(1_000))
    many = [f"t{i}" for i in range(0, 2_000, 3)] + ["nope", ""]
    assert len(many) > DICT_LOOKUP_UP_TO
    bulk = vocab.indices(many)
    one_by_one = np.concatenate([vocab.indices(many[i : i + 10]) for i in range(0, len(many), 10)])
    np.testing.assert_array_equal(bulk, one_by_one)
    assert bulk.dtype == one_by_one.dtype == np.int64
    assert bulk[0] == 0
    assert bulk[-1] == -1
    assert bulk[1] == 3


def test_ids_of_any_kind_are_read_as_text() -> None:
    vocab = Vocabulary(["1", "2", "3"])
    assert vocab.indices([3, 1, 7]).tolist() == [2, 0, -1]
    assert vocab.indices(np.asarray([3, 1, 7])).tolist() == [2, 0, -1]
    assert vocab.indices(iter(["2"])).tolist() == [1]
    assert vocab.indices([]).tolist() == []
    big = np.arange(DICT_LOOKUP_UP_TO + 5) % 4
    assert vocab.indices(big).tolist() == [[-1, 0, 1, 2][k] for k in big.tolist()]

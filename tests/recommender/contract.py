"""The contract every recommender honours. A model's test class inherits this mixin and
says only how to build the model (`make_model`) and, if needed, what it trains on."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommender.artifacts import ARRAYS, MANIFEST, ArtifactError
from recommender.base import Recommender
from recommender.data import Interactions, ItemCatalog
from tests.recommender.tiny import tiny_catalog, tiny_interactions


class RecommenderContract:
    """Shared tests; subclasses implement `make_model(seed)`."""

    supports_similar_items = False

    def make_model(self, seed: int = 0) -> Recommender:
        raise NotImplementedError

    def training_data(self) -> tuple[Interactions, ItemCatalog]:
        return tiny_interactions(), tiny_catalog()

    @pytest.fixture
    def fitted(self) -> Recommender:
        interactions, catalog = self.training_data()
        return self.make_model().fit(interactions, catalog)

    def known_user(self) -> str:
        return str(self.training_data()[0].users[0])

    def known_item(self) -> str:
        return str(self.training_data()[1].ids[0])

    # --- recommend ---------------------------------------------------------------------

    def test_recommend_returns_k_ranked_items_with_reasons(self, fitted: Recommender) -> None:
        results = fitted.recommend(self.known_user(), 5)
        assert 0 < len(results) <= 5
        scores = [r.score for r in results]
        assert scores == sorted(scores, reverse=True)
        assert len({r.item for r in results}) == len(results)
        assert all(r.reason.strip() for r in results)
        assert all(r.item in fitted.item_vocab for r in results)

    def test_exclusions_are_honoured(self, fitted: Recommender) -> None:
        first = fitted.recommend(self.known_user(), 5)
        excluded = {r.item for r in first[:3]}
        again = fitted.recommend(self.known_user(), 5, exclude=excluded)
        assert excluded.isdisjoint(r.item for r in again)

    def test_unknown_user_is_not_an_error(self, fitted: Recommender) -> None:
        results = fitted.recommend("nobody-ever", 5)
        assert isinstance(results, list)
        assert len(results) <= 5

    def test_k_larger_than_the_catalog(self, fitted: Recommender) -> None:
        results = fitted.recommend(self.known_user(), 10_000)
        assert len(results) <= len(fitted.item_vocab)
        assert len({r.item for r in results}) == len(results)

    @pytest.mark.parametrize("k", [0, -3])
    def test_k_must_be_positive(self, fitted: Recommender, k: int) -> None:
        with pytest.raises(ValueError, match="k must be"):
            fitted.recommend(self.known_user(), k)

    def test_score_rows_match_the_vocabulary(self, fitted: Recommender) -> None:
        scores = fitted.score_users([self.known_user(), "nobody-ever"])
        assert scores.shape == (2, len(fitted.item_vocab))

    # --- similar items -----------------------------------------------------------------

    def test_similar_items_of_an_unknown_item_is_empty(self, fitted: Recommender) -> None:
        assert fitted.similar_items("no-such-item", 5) == []

    def test_similar_items_excludes_the_item_itself(self, fitted: Recommender) -> None:
        results = fitted.similar_items(self.known_item(), 5)
        if self.supports_similar_items:
            assert results
        assert self.known_item() not in {r.item for r in results}
        assert all(r.reason.strip() for r in results)

    # --- determinism and persistence -----------------------------------------------------

    def test_same_seed_same_results(self) -> None:
        interactions, catalog = self.training_data()
        first = self.make_model(seed=3).fit(interactions, catalog)
        second = self.make_model(seed=3).fit(interactions, catalog)
        user = self.known_user()
        assert first.recommend(user, 10) == second.recommend(user, 10)

    def test_save_load_round_trip(self, fitted: Recommender, tmp_path: Path) -> None:
        fitted.save(tmp_path / "model")
        loaded = type(fitted).load(tmp_path / "model")
        user = self.known_user()
        assert loaded.recommend(user, 10) == fitted.recommend(user, 10)
        assert loaded.similar_items(self.known_item(), 5) == fitted.similar_items(
            self.known_item(), 5
        )
        assert loaded.item_vocab == fitted.item_vocab

    def test_missing_artifact_is_a_clear_error(self, fitted: Recommender, tmp_path: Path) -> None:
        with pytest.raises(ArtifactError, match="no model artifact"):
            type(fitted).load(tmp_path / "nothing-here")

    def test_truncated_artifact_is_a_clear_error(self, fitted: Recommender, tmp_path: Path) -> None:
        directory = fitted.save(tmp_path / "model")
        arrays = directory / ARRAYS
        arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])
        with pytest.raises(ArtifactError, match="truncated or corrupt"):
            type(fitted).load(directory)

    def test_incompatible_artifact_is_a_clear_error(
        self, fitted: Recommender, tmp_path: Path
    ) -> None:
        directory = fitted.save(tmp_path / "model")
        manifest = directory / MANIFEST
        manifest.write_text(
            manifest.read_text().replace('"format_version": 1', '"format_version": 99')
        )
        with pytest.raises(ArtifactError, match="not supported"):
            type(fitted).load(directory)

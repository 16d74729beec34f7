"""Learned track embeddings (recommender/embeddings.py) and the content model using them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recommender.artifacts import ArtifactError
from recommender.content import ContentSimilarity, ContentTuning, encode_features
from recommender.data import Interactions, ItemCatalog
from recommender.embeddings import FeatureScaler, TrackEncoder, fit_encoder
from tests.recommender.contract import RecommenderContract
from tests.recommender.tiny import tiny_catalog, tiny_interactions

NO_USERS = Interactions.from_rows([], [])
# Small worlds: few cluster counts to try, short training (early stopping still applies).
FAST = {"cluster_candidates": (2, 3), "embedding_epochs": 30, "min_labelled_tracks": 0}


class TestContentGenreNet(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ContentSimilarity:
        return ContentSimilarity(seed=seed, representation="genre-net", **FAST)  # type: ignore[arg-type]


class TestContentAutoencoder(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ContentSimilarity:
        return ContentSimilarity(seed=seed, representation="autoencoder", **FAST)  # type: ignore[arg-type]


def keyed_catalog(count: int = 60, seed: int = 1) -> ItemCatalog:
    """Tracks with continuous and categorical features, ties and a gap or two."""
    rng = np.random.default_rng(seed)
    names = ("danceability", "energy", "key", "mode", "instrumentalness", "tempo")
    features = np.column_stack(
        [
            rng.uniform(0, 1, count),
            rng.uniform(0, 1, count),
            rng.integers(-1, 12, count),
            rng.integers(0, 2, count),
            np.where(rng.uniform(size=count) < 0.5, 0.0, rng.uniform(0, 1, count)),  # ties
            rng.normal(120, 20, count),
        ]
    )
    features[3, 1] = np.nan  # filled with the median
    return ItemCatalog(
        ids=np.asarray([f"t{n}" for n in range(count)]),
        names=[f"Track {n}" for n in range(count)],
        artists=[(f"Artist {n}",) for n in range(count)],
        genres=[("a",) if n % 2 else ("b",) for n in range(count)],
        popularity=np.full(count, 50.0),
        features=features,
        feature_names=names,
    )


def signal_in_noise(count: int = 400, seed: int = 0, noise: int = 12) -> ItemCatalog:
    """Genre decided by acousticness alone; `noise` other features are noise. Scaled
    features find neighbours mostly by the noise; a genre network learns to ignore it."""
    rng = np.random.default_rng(seed)
    acoustic = rng.uniform(0, 1, count)
    genres = [("folk",) if value > 0.5 else ("techno",) for value in acoustic]
    return ItemCatalog(
        ids=np.asarray([f"s{n}" for n in range(count)]),
        names=[f"Song {n}" for n in range(count)],
        artists=[(f"Band {n}",) for n in range(count)],
        genres=genres,
        popularity=np.full(count, 50.0),
        features=np.column_stack([acoustic, rng.uniform(0, 1, (count, noise))]),
        feature_names=("acousticness", *(f"noise_{n}" for n in range(noise))),
    )


def neighbour_genre_precision(
    model: ContentSimilarity, truth: ItemCatalog, queries: list[str]
) -> float:
    shares = []
    for item in queries:
        genres = set(truth.genres[truth.vocab.index(item)])
        results = model.similar_items(item, 10)
        shares.append(
            np.mean([bool(genres & set(truth.genres[truth.vocab.index(r.item)])) for r in results])
        )
    return float(np.mean(shares))


# --- scaling ------------------------------------------------------------------------------


def test_the_scaler_encodes_catalog_tracks_exactly_as_the_content_model() -> None:
    catalog = keyed_catalog()
    scaler = FeatureScaler.fit(catalog.features, catalog.feature_names, max_missing_share=0.5)

    matrix, has_vector = scaler.transform(catalog.features, catalog.feature_names)

    expected = encode_features(catalog, ContentTuning())
    assert has_vector.all()
    np.testing.assert_allclose(matrix, expected.matrix, atol=1e-5)


def test_a_new_track_is_scaled_by_the_catalogs_ranks() -> None:
    catalog = keyed_catalog()
    scaler = FeatureScaler.fit(catalog.features, catalog.feature_names, max_missing_share=0.5)
    names = catalog.feature_names
    energy = catalog.features[:, 1]
    middle = np.nanmedian(energy)
    rows = np.tile(np.nanmedian(catalog.features, axis=0), (4, 1))
    rows[0, 1] = np.nanmax(energy) + 10  # beyond anything seen: the top rank, not beyond
    rows[1, 1] = middle
    rows[2] = np.nan  # no features at all
    rows[3, 1] = np.nan  # a gap: the median

    matrix, has_vector = scaler.transform(rows, names)

    catalog_matrix, _ = scaler.transform(catalog.features, names)
    assert has_vector.tolist() == [True, True, False, True]
    assert matrix[0, 1] == pytest.approx(catalog_matrix[:, 1].max())
    assert abs(matrix[1, 1]) < 0.1  # the median sits in the middle of a normal
    assert matrix[3, 1] == pytest.approx(matrix[1, 1])
    assert not matrix[2].any()
    # Columns come by name: another order, or a missing column, changes nothing but gaps.
    reordered, _ = scaler.transform(rows[:, ::-1], names[::-1])
    np.testing.assert_array_equal(reordered, matrix)


# --- the encoders -------------------------------------------------------------------------


def test_a_genre_network_finds_the_genre_signal_the_raw_features_drown() -> None:
    catalog = signal_in_noise()
    held = np.arange(len(catalog)) % 5 == 0
    blind = replace(
        catalog, genres=[() if h else g for g, h in zip(catalog.genres, held, strict=True)]
    )
    queries = catalog.ids[held].tolist()

    features = ContentSimilarity(**FAST, representation="features").fit(NO_USERS, blind)  # type: ignore[arg-type]
    learned = ContentSimilarity(representation="genre-net", **FAST).fit(NO_USERS, blind)  # type: ignore[arg-type]

    plain = neighbour_genre_precision(features, catalog, queries)
    taught = neighbour_genre_precision(learned, catalog, queries)
    assert learned.report["encoder"]["objective"] == "genres"
    assert plain < 0.8
    assert taught > plain + 0.15


def test_the_genre_network_learns_only_the_genres_it_is_given() -> None:
    catalog = signal_in_noise(200)
    no_genres = replace(catalog, genres=[()] * len(catalog))

    taught = fit_encoder("genre-net", catalog, seed=0)
    untaught = fit_encoder("genre-net", no_genres, seed=0)

    assert taught.report["objective"] == "genres"
    assert taught.report["genres"] == 2
    assert untaught.report["objective"] == "reconstruction"  # nothing to learn genres from
    assert untaught.report["genres"] == 0


def test_early_stopping_keeps_the_best_epoch() -> None:
    encoder = fit_encoder("autoencoder", signal_in_noise(200), seed=0, epochs=200, patience=3)
    report = encoder.report
    assert report["epochs"] < 200
    assert report["best_epoch"] <= report["epochs"] - 3
    assert report["validation_tracks"] == 20
    assert encoder.dimensions == 8


def test_a_track_added_later_gets_a_vector_without_retraining(tmp_path: Path) -> None:
    catalog = tiny_catalog()
    model = ContentSimilarity(representation="genre-net", **FAST).fit(NO_USERS, catalog)  # type: ignore[arg-type]
    encoder = model.encoder
    assert encoder is not None

    existing, _ = encoder.embed_catalog(catalog)
    np.testing.assert_array_equal(existing, model.vectors)
    jazz_like = catalog.features[25] + np.asarray([0.01, -0.01, 0.0, 0.01, 1.0])
    (vector,), (has_vector,) = encoder.embed(jazz_like[None, :], catalog.feature_names)

    assert has_vector
    nearest = np.argsort(np.linalg.norm(model.vectors - vector, axis=1))[:5]
    assert {catalog.genres[index] for index in nearest} == {("jazz",)}
    loaded = TrackEncoder.load(encoder.save(tmp_path / "encoder"))
    np.testing.assert_array_equal(
        loaded.embed(jazz_like[None, :], catalog.feature_names)[0], [vector]
    )


def test_the_saved_content_model_keeps_its_encoder(tmp_path: Path) -> None:
    model = ContentSimilarity(representation="autoencoder", **FAST).fit(  # type: ignore[arg-type]
        tiny_interactions(), tiny_catalog()
    )
    loaded = ContentSimilarity.load(model.save(tmp_path / "content"))

    assert loaded.tuning.representation == "autoencoder"
    assert loaded.report == model.report
    np.testing.assert_array_equal(loaded.vectors, model.vectors)
    assert loaded.encoder is not None
    assert model.encoder is not None
    rows = tiny_catalog().features[:3]
    np.testing.assert_array_equal(
        loaded.encoder.embed(rows, tiny_catalog().feature_names)[0],
        model.encoder.embed(rows, tiny_catalog().feature_names)[0],
    )
    assert loaded.recommend("u00", 5) == model.recommend("u00", 5)


def test_too_few_tracks_with_a_genre_keep_the_features_representation() -> None:
    catalog = tiny_catalog()  # 30 tracks with a genre
    asked = {**FAST, "representation": "genre-net"}

    enough = ContentSimilarity(**{**asked, "min_labelled_tracks": 30}).fit(NO_USERS, catalog)  # type: ignore[arg-type]
    too_few = ContentSimilarity(**{**asked, "min_labelled_tracks": 31}).fit(NO_USERS, catalog)  # type: ignore[arg-type]
    features = ContentSimilarity(**FAST, representation="features").fit(NO_USERS, catalog)  # type: ignore[arg-type]

    assert enough.report["representation"] == "genre-net"
    assert enough.encoder is not None
    assert too_few.report["representation"] == "features"
    assert too_few.encoder is None
    np.testing.assert_array_equal(too_few.vectors, features.vectors)


def test_genre_columns_can_join_a_learned_embedding() -> None:
    options = {**FAST, "representation": "autoencoder", "embedding_dimensions": 4}
    plain = ContentSimilarity(**options).fit(NO_USERS, tiny_catalog())  # type: ignore[arg-type]
    with_genres = ContentSimilarity(**options, genre_weight=2.0).fit(NO_USERS, tiny_catalog())  # type: ignore[arg-type]

    assert plain.vectors.shape == (30, 4)
    assert with_genres.vectors.shape == (30, 4 + 3)
    np.testing.assert_allclose(np.linalg.norm(with_genres.vectors[:, 4:], axis=1), 2.0)


def test_the_features_representation_saves_no_encoder(tmp_path: Path) -> None:
    model = ContentSimilarity(**FAST, representation="features").fit(NO_USERS, tiny_catalog())  # type: ignore[arg-type]
    assert model.encoder is None
    assert ContentSimilarity.load(model.save(tmp_path / "content")).encoder is None


def test_an_encoder_artifact_of_another_kind_is_refused(tmp_path: Path) -> None:
    model = ContentSimilarity(**FAST, representation="features").fit(NO_USERS, tiny_catalog())  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="not 'track-encoder'"):
        TrackEncoder.load(model.save(tmp_path / "content"))


def test_training_leaves_the_torch_thread_count_alone() -> None:
    import torch

    before = torch.get_num_threads()
    fit_encoder("genre-net", tiny_catalog(), seed=0, threads=1)
    assert torch.get_num_threads() == before


def test_reasons_still_name_what_is_alike() -> None:
    model = ContentSimilarity(representation="genre-net", **FAST).fit(NO_USERS, tiny_catalog())  # type: ignore[arg-type]
    for result in model.similar_items("i20", 3):
        assert result.reason.startswith("also jazz, with similar ")
        assert result.reason.endswith("to Song 20 by Artist 6")


def test_catalogs_without_features_or_tracks() -> None:
    base = tiny_catalog()
    no_features = replace(base, features=np.full(base.features.shape, np.nan))
    empty = ItemCatalog(
        ids=np.asarray([], dtype=str),
        names=[],
        artists=[],
        genres=[],
        popularity=np.zeros(0),
        features=np.zeros((0, len(base.feature_names))),
        feature_names=base.feature_names,
    )
    for catalog in (no_features, empty):
        for representation in ("genre-net", "autoencoder"):
            model = ContentSimilarity(representation=representation, **FAST)  # type: ignore[arg-type]
            model.fit(NO_USERS, catalog)
            assert model.similar_items("i00", 5) == []
            assert not model.has_features("i00")


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"representation": "word2vec"}, ValueError, "representation"),
        ({"min_labelled_tracks": -1}, ValueError, "min_labelled_tracks"),
        ({"embedding_dimensions": -1}, ValueError, "embedding_dimensions"),
    ],
)
def test_bad_options_are_named(
    options: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ContentSimilarity(**options)  # type: ignore[arg-type]


def test_bad_encoder_options_are_named() -> None:
    with pytest.raises(ValueError, match="representation"):
        fit_encoder("pca", tiny_catalog())
    with pytest.raises(TypeError, match="layers"):
        fit_encoder("autoencoder", tiny_catalog(), layers=3)

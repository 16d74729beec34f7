"""Tracks outside the catalog (added because members played them; no audio features at all)
next to the catalog's own: the content models measure missing features over the tracks
that have any, so a catalog of mostly played tracks still has a content model, and the
featureless tracks get no vector and are never offered as sounding alike."""

from __future__ import annotations

import numpy as np

from recommender.content import ContentSimilarity, ContentTuning, encode_features
from recommender.data import Interactions, ItemCatalog
from recommender.embeddings import FeatureScaler

NAMES = ("danceability", "energy", "valence")
DESCRIBED = 12
OUTSIDE = 40  # most of the catalog: far past the 50 % a feature may be missing


def mixed_catalog() -> ItemCatalog:
    """DESCRIBED tracks with features in two sounds, then OUTSIDE tracks without any."""
    rng = np.random.default_rng(3)
    quiet = rng.uniform(0.0, 0.2, (DESCRIBED // 2, 3))
    loud = rng.uniform(0.8, 1.0, (DESCRIBED // 2, 3))
    features = np.vstack([quiet, loud, np.full((OUTSIDE, 3), np.nan)])
    count = DESCRIBED + OUTSIDE
    ids = [f"q{n}" for n in range(DESCRIBED // 2)] + [f"l{n}" for n in range(DESCRIBED // 2)]
    ids += [f"out{n}" for n in range(OUTSIDE)]
    return ItemCatalog(
        ids=np.asarray(ids),
        names=[f"Song {n}" for n in range(count)],
        artists=[(f"Artist {n}",) for n in range(count)],
        genres=[("pop",)] * count,
        popularity=np.full(count, 50.0),
        features=features,
        feature_names=NAMES,
    )


def test_features_stay_when_most_tracks_are_outside_the_catalog() -> None:
    encoded = encode_features(mixed_catalog(), ContentTuning())

    assert encoded.used == NAMES
    assert encoded.dropped == ()
    assert encoded.has_vector.tolist() == [True] * DESCRIBED + [False] * OUTSIDE
    assert np.isfinite(encoded.matrix).all()


def test_similarity_offers_only_described_tracks_and_never_the_outside_ones() -> None:
    catalog = mixed_catalog()
    listened = Interactions.from_rows(["m", "m"], ["q0", "out3"])
    model = ContentSimilarity(cluster_candidates=(2, 3)).fit(listened, catalog)

    similar = [r.item for r in model.similar_items("q0", 20)]
    assert similar  # a content model exists
    assert all(item[0] in "ql" for item in similar)
    assert similar[:3] == [item for item in similar if item.startswith("q")][:3]  # quiet first
    assert not model.has_features("out3")
    assert model.similar_items("out3", 5) == []
    picks = [r.item for r in model.recommend("m", 10)]
    assert picks
    assert not any(item.startswith("out") for item in picks)


def test_the_encoder_keeps_the_same_features_as_the_content_model() -> None:
    catalog = mixed_catalog()

    scaler = FeatureScaler.fit(catalog.features, NAMES, max_missing_share=0.5)

    assert scaler.used == NAMES
    matrix, has_vector = scaler.transform(catalog.features, NAMES)
    assert has_vector.tolist() == encode_features(catalog, ContentTuning()).has_vector.tolist()
    assert np.isfinite(matrix[has_vector]).all()


def test_without_any_described_track_every_feature_is_dropped() -> None:
    catalog = mixed_catalog()
    only_outside = ItemCatalog(
        ids=catalog.ids[DESCRIBED:],
        names=catalog.names[DESCRIBED:],
        artists=catalog.artists[DESCRIBED:],
        genres=catalog.genres[DESCRIBED:],
        popularity=catalog.popularity[DESCRIBED:],
        features=catalog.features[DESCRIBED:],
        feature_names=NAMES,
    )

    encoded = encode_features(only_outside, ContentTuning())

    assert encoded.used == ()
    assert not encoded.has_vector.any()

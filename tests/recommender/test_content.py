from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from recommender.content import MAX_MIX_SEEDS, ContentSimilarity, _best, normal_scores
from recommender.data import Interactions, ItemCatalog
from recommender.diversity import song_key
from tests.recommender.contract import RecommenderContract
from tests.recommender.tiny import FEATURES, tiny_catalog, tiny_interactions

NO_USERS = Interactions.from_rows([], [])
# Small worlds below fit in milliseconds with a short list of cluster counts to try.
FAST = {"cluster_candidates": (2, 3, 4, 5)}


class TestContentSimilarity(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ContentSimilarity:
        return ContentSimilarity(seed=seed)


class TestContentSimilarityGenreMode(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ContentSimilarity:
        return ContentSimilarity(mode="genre", seed=seed)


class TestContentSimilarityCosine(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ContentSimilarity:
        return ContentSimilarity(seed=seed, metric="cosine", profile="centroid")


def catalog_of(
    rows: Sequence[tuple[str, str, str, Sequence[str], Sequence[float]]],
    feature_names: tuple[str, ...] = ("danceability", "energy", "valence"),
) -> ItemCatalog:
    """rows: (id, name, main artist, genres, features)."""
    return ItemCatalog(
        ids=np.asarray([row[0] for row in rows]),
        names=[row[1] for row in rows],
        artists=[(row[2],) for row in rows],
        genres=[tuple(row[3]) for row in rows],
        popularity=np.full(len(rows), 50.0),
        features=np.asarray([row[4] for row in rows], dtype=float).reshape(
            len(rows), len(feature_names)
        ),
        feature_names=feature_names,
    )


def filler(count: int, genre: str = "filler") -> list[tuple[str, str, str, list[str], list[float]]]:
    """Tracks far from the 0.5 region the tests' seeds live in, each by its own artist."""
    rng = np.random.default_rng(7)
    return [
        (f"f{n}", f"Filler {n}", f"Filler Artist {n}", [genre], list(rng.uniform(0.0, 0.2, 3)))
        for n in range(count)
    ]


def fitted(catalog: ItemCatalog, **options: object) -> ContentSimilarity:
    return ContentSimilarity(**{**FAST, **options}).fit(NO_USERS, catalog)  # type: ignore[arg-type]


# --- similar items ------------------------------------------------------------------------


def test_genre_mode_only_returns_tracks_sharing_a_genre() -> None:
    catalog = catalog_of(
        [
            ("seed", "Seed", "A", ["pop", "dance pop"], [0.5, 0.5, 0.5]),
            ("twin", "Twin", "B", ["rock"], [0.5, 0.5, 0.5]),  # nearest, but rock
            ("near", "Near", "C", ["dance pop"], [0.55, 0.5, 0.5]),
            ("far", "Far", "D", ["pop"], [0.8, 0.8, 0.8]),
            *filler(20),
        ]
    )
    model = fitted(catalog)

    normal = [r.item for r in model.similar_items("seed", 3)]
    genre = [r.item for r in model.with_mode("genre").similar_items("seed", 30)]

    assert normal[0] == "twin"  # without the genre rule the rock twin wins
    assert genre == ["near", "far"]
    assert ContentSimilarity(mode="genre", **FAST).fit(NO_USERS, catalog).similar_items(
        "seed", 30
    ) == model.with_mode("genre").similar_items("seed", 30)


def test_genre_mode_keeps_tracks_of_unknown_genre_unless_told_to_drop_them() -> None:
    catalog = catalog_of(
        [
            ("seed", "Seed", "A", ["pop"], [0.5, 0.5, 0.5]),
            ("rock", "Rock", "B", ["rock"], [0.5, 0.5, 0.5]),
            ("unknown", "Unknown", "C", [], [0.51, 0.5, 0.5]),
            ("pop", "Pop", "D", ["pop"], [0.7, 0.7, 0.7]),
            ("none", "No Genre Seed", "E", [], [0.3, 0.3, 0.3]),
            *filler(10),
        ]
    )
    kept = fitted(catalog, mode="genre")
    dropped = fitted(catalog, mode="genre", unknown_genres="drop")

    assert {r.item for r in kept.similar_items("seed", 30)} == {"unknown", "none", "pop"}
    assert [r.item for r in dropped.similar_items("seed", 30)] == ["pop"]
    assert kept.similar_items("none", 5) == []  # no genre to share: no answer in genre mode


def test_never_the_seed_nor_another_version_of_it() -> None:
    catalog = catalog_of(
        [
            ("halo", "Halo", "Beyoncé", ["pop"], [0.5, 0.5, 0.5]),
            ("halo-live", "Halo - Live at Wembley", "Beyonce", ["pop"], [0.5, 0.5, 0.5]),
            ("halo-feat", "Halo (feat. Someone)", "Beyoncé", ["pop"], [0.5, 0.51, 0.5]),
            ("cover", "Halo", "Another Singer", ["pop"], [0.52, 0.5, 0.5]),
            *filler(20),
        ]
    )
    model = fitted(catalog)

    items = [r.item for r in model.similar_items("halo", 10)]

    assert "halo" not in items
    assert "halo-live" not in items
    assert "halo-feat" not in items
    assert items[0] == "cover"  # same title, another artist: another song
    assert song_key(catalog, 0) not in {song_key(catalog, catalog.vocab.index(i)) for i in items}


def test_at_most_two_tracks_per_artist_in_a_top_ten() -> None:
    prolific = [
        (f"p{n}", f"Hit {n}", "Prolific", ["pop"], [0.5 + n / 1000, 0.5, 0.5]) for n in range(8)
    ]
    others = [
        (f"o{n}", f"Other {n}", f"Artist {n}", ["pop"], [0.6 + n / 100, 0.5, 0.5])
        for n in range(12)
    ]
    catalog = catalog_of(
        [("seed", "Seed", "Someone", ["pop"], [0.5, 0.5, 0.5]), *prolific, *others]
    )
    model = fitted(catalog)

    results = model.similar_items("seed", 20)
    artists = [catalog.main_artist(catalog.vocab.index(r.item)) for r in results]

    assert artists[:2] == ["Prolific", "Prolific"]
    assert Counter(artists[:10])["Prolific"] == 2
    assert Counter(artists[10:20])["Prolific"] <= 2
    assert len(results) == 14  # 12 others + 2 Prolific per block of ten; the rest are capped


def test_scores_are_ranked_and_reasons_name_the_seed_and_what_is_alike() -> None:
    model = ContentSimilarity().fit(tiny_interactions(), tiny_catalog())

    results = model.similar_items("i00", 5)

    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    for result in results:
        assert "Song 0 by Artist 0" in result.reason
        assert result.reason.startswith(("similar ", "also rock, with similar "))
        assert any(feature in result.reason for feature in FEATURES)


def test_the_shared_genre_in_a_reason_is_the_most_specific_one() -> None:
    catalog = catalog_of(
        [
            ("seed", "Seed", "A", ["pop", "indie pop"], [0.5, 0.5, 0.5]),
            ("b", "B", "B", ["pop", "indie pop"], [0.51, 0.5, 0.5]),
            ("c", "C", "C", ["pop"], [0.52, 0.5, 0.5]),
            ("d", "D", "D", ["pop"], [0.53, 0.5, 0.5]),
            *filler(10),
        ]
    )
    reasons = {r.item: r.reason for r in fitted(catalog).similar_items("seed", 3)}

    assert reasons["b"].startswith("also indie pop, with similar ")
    assert reasons["c"].startswith("also pop, with similar ")
    assert reasons["b"].endswith(" to Seed by A")


def test_reasons_prefer_features_both_tracks_stand_out_on() -> None:
    names = ("energy", "valence", "liveness")
    base = [(f"f{n}", f"F{n}", f"FA{n}", ["x"], [0.5, 0.5, 0.1]) for n in range(20)]
    catalog = catalog_of(
        [
            ("seed", "Seed", "A", ["x"], [0.95, 0.9, 0.1]),
            ("b", "B", "B", ["x"], [0.96, 0.91, 0.1]),
            *base,
        ],
        feature_names=names,
    )
    reason = fitted(catalog).similar_items("seed", 1)[0].reason

    assert reason == "also x, with similar energy and valence to Seed by A"


def test_unknown_seed_or_k_values() -> None:
    model = ContentSimilarity().fit(tiny_interactions(), tiny_catalog())

    assert model.similar_items("nope", 5) == []
    everything = [r.item for r in model.similar_items("i00", 10**9)]  # k capped, not obeyed
    assert 20 < len(everything) <= 29
    assert len(set(everything)) == len(everything)
    assert "i00" not in everything
    with pytest.raises(ValueError, match="k must be"):
        model.similar_items("i00", 0)


# --- bad data -----------------------------------------------------------------------------


def test_tracks_without_features_are_never_offered_and_never_crash() -> None:
    nan = float("nan")
    catalog = catalog_of(
        [
            ("seed", "Seed", "A", ["pop"], [0.5, 0.5, 0.5]),
            ("empty", "Empty", "B", ["pop"], [nan, nan, nan]),
            ("partial", "Partial", "C", ["pop"], [0.5, nan, 0.5]),
            *filler(10),
        ]
    )
    users = Interactions.from_rows(["u", "u"], ["seed", "empty"])
    model = ContentSimilarity(**FAST).fit(users, catalog)  # type: ignore[arg-type]

    items = [r.item for r in model.similar_items("seed", 20)]
    assert "empty" not in items
    assert "partial" in items  # its missing energy is filled with the median
    assert model.similar_items("empty", 5) == []
    assert not model.has_features("empty")
    assert model.mix(["empty", "seed"], 3) == model.similar_items("seed", 3)
    scores = model.score_users(["u"])[0]
    assert scores[catalog.vocab.index("empty")] == -np.inf
    assert np.isfinite(scores[catalog.vocab.index("partial")])
    assert model.report["items_without_features"] == 1


def test_a_feature_missing_for_most_tracks_is_dropped() -> None:
    catalog = tiny_catalog()
    features = np.column_stack([catalog.features, np.full(len(catalog), np.nan)])
    features[:3, -1] = 4.0
    with_signature = ItemCatalog(
        ids=catalog.ids,
        names=catalog.names,
        artists=catalog.artists,
        genres=catalog.genres,
        popularity=catalog.popularity,
        features=features,
        feature_names=(*catalog.feature_names, "time_signature"),
    )
    model = ContentSimilarity().fit(NO_USERS, with_signature)

    assert model.report["features_dropped"] == ["time_signature"]
    assert model.similar_items("i05", 3)


def test_a_catalog_without_any_features_or_tracks_gives_empty_answers() -> None:
    nan = float("nan")
    no_features = catalog_of([("a", "A", "A", ["pop"], [nan] * 3), ("b", "B", "B", [], [nan] * 3)])
    empty = catalog_of([])
    for catalog in (no_features, empty):
        model = ContentSimilarity().fit(Interactions.from_rows(["u"], ["a"]), catalog)
        assert model.similar_items("a", 5) == []
        assert model.recommend("u", 5) == []
        assert model.score_users(["u"]).shape == (1, len(catalog))


def test_a_catalog_is_required() -> None:
    with pytest.raises(ValueError, match="needs the item catalog"):
        ContentSimilarity().fit(tiny_interactions())


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"mode": "jazz"}, ValueError),
        ({"metric": "manhattan"}, ValueError),
        ({"profile": "median"}, ValueError),
        ({"explained_variance": 0}, ValueError),
        ({"unknown_genres": "maybe"}, ValueError),
        ({"colour": "blue"}, TypeError),
    ],
)
def test_bad_options_are_named(options: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error, match=next(iter(options))):
        ContentSimilarity(**options)  # type: ignore[arg-type]


# --- mix ----------------------------------------------------------------------------------


def test_a_mix_of_one_is_the_similar_list() -> None:
    model = ContentSimilarity().fit(NO_USERS, tiny_catalog())
    assert model.mix(["i00"], 5) == model.similar_items("i00", 5)


def test_a_mix_of_five_blends_them_and_leaves_every_seed_out() -> None:
    model = ContentSimilarity().fit(NO_USERS, tiny_catalog())
    seeds = ["i00", "i01", "i10", "i11", "i20"]

    results = model.mix(seeds, 10)
    items = [r.item for r in results]

    assert len(results) == 10
    assert set(items).isdisjoint(seeds)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    # Reasons name the seed each track is closest to: a jazz track names the jazz seed.
    for result in results:
        if int(result.item[1:]) >= 20:
            assert "Song 20 by" in result.reason


def test_a_mix_leaves_out_other_versions_of_every_seed() -> None:
    catalog = catalog_of(
        [
            ("a", "Alpha", "A", ["pop"], [0.5, 0.5, 0.5]),
            ("a2", "Alpha - Remastered", "A", ["pop"], [0.5, 0.5, 0.5]),
            ("b", "Beta", "B", ["pop"], [0.6, 0.6, 0.6]),
            ("b2", "Beta (Live)", "B", ["pop"], [0.6, 0.6, 0.6]),
            ("c", "Gamma", "C", ["pop"], [0.55, 0.55, 0.55]),
            *filler(10),
        ]
    )
    items = [r.item for r in fitted(catalog).mix(["a", "b"], 5)]

    assert items[0] == "c"
    assert {"a", "a2", "b", "b2"}.isdisjoint(items)


def test_a_mix_takes_one_to_five_seeds() -> None:
    model = ContentSimilarity().fit(NO_USERS, tiny_catalog())
    with pytest.raises(ValueError, match="1 to 5"):
        model.mix([f"i{n:02d}" for n in range(MAX_MIX_SEEDS + 1)], 5)
    with pytest.raises(ValueError, match="1 to 5"):
        model.mix([], 5)
    assert model.mix(["i00"] * 6, 3) == model.similar_items("i00", 3)  # repeats count once
    assert model.mix(["nope", "nada"], 3) == []


# --- members ------------------------------------------------------------------------------


def test_members_get_tracks_like_the_ones_they_liked() -> None:
    model = ContentSimilarity().fit(tiny_interactions(), tiny_catalog())
    jazz_fan = "u02"  # likes jazz (items i20..i29), see tiny_interactions

    results = model.recommend(jazz_fan, 4)

    assert {int(r.item[1:]) // 10 for r in results} == {2}
    assert all(r.reason.startswith("also jazz, with similar ") for r in results)
    assert set(model.item_vocab.ids_of(model.seen_items(jazz_fan))).isdisjoint(
        r.item for r in results
    )


def test_genre_mode_for_a_member_keeps_their_main_genres() -> None:
    catalog = tiny_catalog()
    likes = Interactions.from_rows(["u"] * 5, ["i00", "i01", "i02", "i03", "i20"])
    normal = ContentSimilarity().fit(likes, catalog).score_users(["u"])[0]
    genre = ContentSimilarity(mode="genre", user_genre_share=0.5).fit(likes, catalog)
    scores = genre.score_users(["u"])[0]

    rock = np.arange(10)
    assert np.isfinite(scores[rock]).all()
    assert np.isneginf(scores[10:]).all()  # jazz is a fifth of the likes, below the share
    np.testing.assert_allclose(scores[rock], normal[rock])


def test_dislikes_do_not_shape_the_profile_but_are_never_offered() -> None:
    catalog = tiny_catalog()
    data = Interactions.from_rows(["u", "u"], ["i00", "i25"], [1.0, -1.5])
    model = ContentSimilarity().fit(data, catalog)

    assert set(model.item_vocab.ids_of(model.seen_items("u"))) == {"i00", "i25"}
    assert all(r.item < "i10" for r in model.recommend("u", 5))  # rock, like i00


@pytest.mark.parametrize("profile", ["max", "mean", "centroid"])
def test_every_profile_ranks_a_members_genre_first(profile: str) -> None:
    model = ContentSimilarity(profile=profile).fit(tiny_interactions(), tiny_catalog())
    results = model.recommend("u01", 3)  # a pop fan
    assert {int(r.item[1:]) // 10 for r in results} == {1}


# --- fitting details ----------------------------------------------------------------------


def test_k_means_picks_the_cluster_count_with_the_best_silhouette() -> None:
    model = ContentSimilarity(**FAST).fit(NO_USERS, tiny_catalog())  # type: ignore[arg-type]
    clusters = model.clusters

    assert set(clusters.silhouettes) == {2, 3, 4, 5}
    assert clusters.k == max(clusters.silhouettes, key=clusters.silhouettes.__getitem__) == 3
    by_genre = {
        tuple(np.unique(clusters.labels[block * 10 : block * 10 + 10])) for block in range(3)
    }
    assert len(by_genre) == 3
    assert all(len(labels) == 1 for labels in by_genre)


def test_same_seed_same_model() -> None:
    first = ContentSimilarity(seed=4).fit(tiny_interactions(), tiny_catalog())
    second = ContentSimilarity(seed=4).fit(tiny_interactions(), tiny_catalog())
    np.testing.assert_array_equal(first.vectors, second.vectors)
    np.testing.assert_array_equal(first.clusters.labels, second.clusters.labels)
    assert first.report == second.report
    assert first.mix(["i00", "i15"], 8) == second.mix(["i00", "i15"], 8)


def test_normal_scores_are_rank_based_and_share_ties() -> None:
    scores = normal_scores(np.asarray([0.0, 0.0, 1.0, 1000.0]))
    assert scores[0] == scores[1] < scores[2] < scores[3]
    # An outlier is only one rank further: 1000 is as far from 1 as 1 is from 0.
    assert scores[3] - scores[2] == pytest.approx(scores[2] - scores[0], rel=0.5)
    assert normal_scores(np.asarray([3.0])).tolist() == [0.0]


def test_the_artifact_keeps_names_artists_and_genres(tmp_path: Path) -> None:
    catalog = ItemCatalog(
        ids=np.asarray(["a", "b", "c"]),
        names=["Qué Pasaría 👑", "Ne partons pas fâchés", ""],
        artists=[("ROSÉ", "Bruno Mars"), ("Raphaël",), ()],
        genres=[("k-pop", "pop"), (), ("pop",)],
        popularity=np.asarray([90.0, np.nan, 10.0]),
        features=np.asarray([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1], [0.2, 0.2, 0.2]]),
        feature_names=("danceability", "energy", "valence"),
    )
    model = ContentSimilarity().fit(Interactions.from_rows(["u"], ["a"]), catalog)

    loaded = ContentSimilarity.load(model.save(tmp_path / "content"))

    assert loaded.catalog.names == catalog.names
    assert loaded.catalog.artists == catalog.artists
    assert loaded.catalog.genres == catalog.genres
    assert loaded.report == model.report
    assert loaded.mix(["a", "b"], 2) == model.mix(["a", "b"], 2)
    assert loaded.with_mode("genre").similar_items("a", 2) == model.with_mode(
        "genre"
    ).similar_items("a", 2)


def test_the_candidate_pool_grows_when_the_diversity_rules_skip_most_of_it() -> None:
    crowd = [
        (f"p{n}", f"Take {n}", "Prolific", ["pop"], [0.5 + n / 10_000, 0.5, 0.5])
        for n in range(150)  # more near neighbours than the first pool holds, one artist
    ]
    others = [(f"o{n}", f"Other {n}", f"Artist {n}", ["pop"], [0.9, 0.9, 0.9]) for n in range(5)]
    catalog = catalog_of([("seed", "Seed", "Someone", ["pop"], [0.5, 0.5, 0.5]), *crowd, *others])

    results = fitted(catalog).similar_items("seed", 7)

    assert [r.item for r in results][:2] == ["p0", "p1"]
    assert {r.item for r in results[2:]} == {f"o{n}" for n in range(5)}


def test_the_partial_ranking_matches_a_full_sort() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=5_000), 2).astype(np.float32)  # many ties
    scores[rng.choice(5_000, 300, replace=False)] = -np.inf
    finite = np.flatnonzero(np.isfinite(scores))
    expected = finite[np.lexsort((finite, -scores[finite]))]

    for count in (1, 10, 137, 4_700, 5_000, 6_000):
        best = _best(scores, count)
        assert np.array_equal(scores[best], scores[expected[: len(best)]])  # same scores
        assert len(best) == min(count, len(finite))
    assert _best(scores, 0).size == 0
    assert _best(np.full(4, -np.inf), 2).size == 0


def test_keys_a_fifth_apart_are_neighbours() -> None:
    names = ("key", "energy")
    catalog = catalog_of(
        [
            ("c", "C major", "A", ["x"], [0, 0.5]),
            ("f-sharp", "F sharp", "B", ["x"], [6, 0.5]),
            ("c-sharp", "C sharp", "C", ["x"], [1, 0.5]),
            ("g", "G major", "D", ["x"], [7, 0.5]),
            ("unknown", "No key", "E", ["x"], [-1, 0.5]),
        ],
        feature_names=names,
    )
    ranked = [r.item for r in fitted(catalog).similar_items("c", 4)]

    assert ranked[0] == "g"  # one step round the circle of fifths, though 7 semitones up
    assert ranked[1] == "unknown"  # the centre: nearer than any far key
    assert set(ranked[2:]) == {"f-sharp", "c-sharp"}


def test_a_member_profile_is_exact_up_to_its_bound_and_bounded_past_it() -> None:
    from recommender.content import bounded_profile

    catalog, interactions = tiny_catalog(), tiny_interactions()
    model = ContentSimilarity(seed=0).fit(interactions, catalog)
    liked = [str(i) for i in catalog.ids.tolist() if model.has_features(str(i))][:12]
    few = Interactions.from_rows(["m"] * 5, liked[:5])
    exact = model.with_users(few).score_users(["m"])[0]
    np.testing.assert_array_equal(model.with_member(few, max_points=5).score_users(["m"])[0], exact)

    many = Interactions.from_rows(["m"] * len(liked), liked)
    full = model.with_users(many).score_users(["m"])[0]
    bounded = model.with_member(many, max_points=4).score_users(["m"])[0]
    assert not np.array_equal(bounded, full)  # summarised: four points, not twelve tracks
    finite = np.isfinite(full)
    assert np.array_equal(np.isfinite(bounded), finite)
    assert np.corrcoef(bounded[finite], full[finite])[0, 1] > 0.9  # and close to it
    again = model.with_member(many, max_points=4).score_users(["m"])[0]
    np.testing.assert_array_equal(again, bounded)  # seeded: the same every time

    vectors = np.random.default_rng(0).normal(size=(50, 3))
    weights = np.random.default_rng(1).uniform(0.1, 2.0, size=50)
    centres, mass = bounded_profile(vectors, weights, 6)
    assert len(centres) == len(mass) <= 6
    assert mass.sum() == pytest.approx(weights.sum())  # every like is stood for once


def test_a_bounded_profile_finds_the_groups_a_member_likes() -> None:
    """Six tight groups of liked tracks (three of them liked far more): six points land
    one on each group, each weighing what its group's likes do."""
    from recommender.content import bounded_profile

    rng = np.random.default_rng(3)
    truth = rng.normal(scale=10.0, size=(6, 8))
    group = np.repeat(np.arange(6), 20)
    vectors = truth[group] + rng.normal(scale=0.1, size=(120, 8))
    weights = np.where(group < 3, 5.0, 0.5) * rng.uniform(0.8, 1.2, size=120)

    centres, mass = bounded_profile(vectors, weights, 6, seed=0)

    nearest = np.linalg.norm(truth[:, None, :] - centres[None, :, :], axis=2).argmin(axis=1)
    assert sorted(nearest.tolist()) == list(range(6))  # one point per group
    for index in range(6):
        point = nearest[index]
        assert np.linalg.norm(centres[point] - truth[index]) < 0.1
        assert mass[point] == pytest.approx(weights[group == index].sum())

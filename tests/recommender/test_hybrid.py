from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from recommender.content import ContentSimilarity
from recommender.data import Interactions, ItemCatalog
from recommender.hybrid import MIN_TUNING_USERS, Hybrid
from recommender.itemknn import ItemKNN
from tests.recommender.contract import RecommenderContract
from tests.recommender.tiny import tiny_catalog, tiny_interactions

# Item-kNN as the collaborative part keeps these tests fast and exact; the ALS default is
# exercised by its own test below.
FAST = ("itemknn",)


class TestHybrid(RecommenderContract):
    def make_model(self, seed: int = 0) -> Hybrid:
        return Hybrid(seed=seed, collaborative=FAST)


class TestHybridWithoutCatalog(RecommenderContract):
    """Last.fm-style data: no audio features, so collaborative models and popularity only."""

    def make_model(self, seed: int = 0) -> Hybrid:
        return Hybrid(seed=seed, collaborative=FAST)

    def training_data(self) -> tuple[Interactions, ItemCatalog]:
        return tiny_interactions(), None  # type: ignore[return-value]

    def known_item(self) -> str:
        return "i00"


def with_rows(base: Interactions, rows: list[tuple[str, str, float]]) -> Interactions:
    users, items, weights = zip(*rows, strict=True)
    return Interactions.from_rows(
        [*base.users.tolist(), *users],
        [*base.items.tolist(), *items],
        [*base.weights.tolist(), *weights],
    )


def with_new_track(catalog: ItemCatalog, like: str, new_id: str) -> ItemCatalog:
    """The catalog plus `new_id`: a track that sounds exactly like `like`, by a new artist."""
    index = catalog.vocab.index(like)
    return ItemCatalog(
        ids=np.asarray([*catalog.ids.tolist(), new_id]),
        names=[*catalog.names, "Brand New"],
        artists=[*catalog.artists, ("Newcomer",)],
        genres=[*catalog.genres, catalog.genres[index]],
        popularity=np.append(catalog.popularity, 1.0),
        features=np.vstack([catalog.features, catalog.features[index]]),
        feature_names=catalog.feature_names,
    )


@pytest.fixture
def fitted() -> Hybrid:
    return Hybrid(collaborative=FAST).fit(tiny_interactions(), tiny_catalog())


def test_a_cold_member_gets_popular_tracks_with_variety(fitted: Hybrid) -> None:
    catalog = tiny_catalog()
    results = fitted.recommend("someone-new", 10)
    assert len(results) == 10
    genres = Counter(catalog.genres[catalog.vocab.index(r.item)][0] for r in results)
    artists = Counter(catalog.main_artist(catalog.vocab.index(r.item)) for r in results)
    assert max(artists.values()) <= 2
    assert len(genres) == 3  # rock, pop and jazz all offered
    assert all(r.reason.startswith(("popular", "a popular")) for r in results)


def test_a_cold_member_is_shown_the_most_liked_track_first() -> None:
    interactions = with_rows(tiny_interactions(), [(f"fan{n}", "i17", 1.0) for n in range(6)])
    model = Hybrid(collaborative=FAST).fit(interactions, tiny_catalog())
    first = model.recommend("someone-new", 5)[0]
    assert first.item == "i17"
    listeners = len(set(interactions.users[interactions.items == "i17"].tolist()))
    assert first.reason == f"popular: {listeners} listeners liked it"


def test_a_light_member_gets_tracks_that_sound_like_their_likes(fitted: Hybrid) -> None:
    interactions = with_rows(tiny_interactions(), [("newbie", "i21", 1.0), ("newbie", "i24", 1.0)])
    model = Hybrid(collaborative=FAST).fit(interactions, tiny_catalog())
    results = model.recommend("newbie", 5)
    catalog = tiny_catalog()
    assert {catalog.genres[catalog.vocab.index(r.item)][0] for r in results} == {"jazz"}
    assert any("jazz" in r.reason or "similar" in r.reason for r in results)
    assert {"i21", "i24"}.isdisjoint(r.item for r in results)


def test_a_brand_new_track_reaches_people_through_content() -> None:
    catalog = with_new_track(tiny_catalog(), like="i04", new_id="fresh")
    model = Hybrid(collaborative=FAST).fit(tiny_interactions(), catalog)
    assert "fresh" not in tiny_interactions().items  # nobody has played it
    items = [r.item for r in model.recommend("u00", 10)]  # u00 likes rock, i04 among them
    assert "fresh" in items


def test_a_disliked_track_is_never_recommended(fitted: Hybrid) -> None:
    top = fitted.recommend("u00", 3)[0].item
    interactions = with_rows(tiny_interactions(), [("u00", top, -1.5)])
    model = Hybrid(collaborative=FAST).fit(interactions, tiny_catalog())
    assert top not in {r.item for r in model.recommend("u00", 30)}


def test_at_most_two_tracks_per_artist_in_ten(fitted: Hybrid) -> None:
    catalog = tiny_catalog()
    for user in ["u00", "u05", "someone-new"]:
        results = fitted.recommend(user, 10)
        artists = Counter(catalog.main_artist(catalog.vocab.index(r.item)) for r in results)
        assert max(artists.values()) <= 2, user


def clustered(users: int, seed: int = 0) -> Interactions:
    """Members who each like 8 tracks of one genre block of the tiny catalog."""
    rng = np.random.default_rng(seed)
    rows_u, rows_i = [], []
    for user in range(users):
        block = user % 3
        for item in rng.choice(10, size=8, replace=False):
            rows_u.append(f"m{user}")
            rows_i.append(f"i{block * 10 + int(item):02d}")
    return Interactions.from_rows(rows_u, rows_i)


def test_blend_weights_are_tuned_on_validation_and_recorded() -> None:
    interactions = clustered(60)
    first = Hybrid(seed=1, collaborative=FAST).fit(interactions, tiny_catalog())
    warm = first.tuning["tiers"]["warm"]
    assert warm["validation_users"] >= MIN_TUNING_USERS
    assert sum(warm["best"]["weights"].values()) == pytest.approx(1.0)
    assert first.weights["warm"] == warm["best"]["weights"]
    assert set(first.weights["warm"]) == {"itemknn", "content", "artists", "pop"}
    again = Hybrid(seed=1, collaborative=FAST).fit(interactions, tiny_catalog())
    assert again.tuning == first.tuning


def test_given_weights_skip_tuning() -> None:
    weights = {"light": {"content": 1.0}, "warm": {"itemknn": 1.0}}
    model = Hybrid(collaborative=FAST, weights=weights).fit(clustered(60), tiny_catalog())
    assert model.tuning["note"] == "weights given, not tuned"
    # Weights given without a rich tier serve rich members with the warm ones.
    assert model.weights == {**weights, "rich": {"itemknn": 1.0}}


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"light": {"content": 1.0}}, "'warm' tier are missing"),
        ({"light": {"content": 1.0}, "warm": {"als": 1.0}}, "unknown blend group"),
        ({"light": {"content": -1.0}, "warm": {"itemknn": 1.0}}, ">= 0"),
        ({"light": {"content": 0.0}, "warm": {"itemknn": 1.0}}, "not all zero"),
        ({"light": {"content": float("nan")}, "warm": {"itemknn": 1.0}}, "finite"),
    ],
)
def test_bad_weights_are_refused(weights: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Hybrid(collaborative=FAST, weights=weights)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": 0}, "threshold"),
        ({"collaborative": ("nope",)}, "unknown hybrid component"),
        ({"collaborative": ("content",)}, "not a collaborative model"),
        ({"grid_step": 0.0}, "grid_step"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Hybrid(**options)


def test_compose_serves_components_fitted_elsewhere() -> None:
    interactions, catalog = tiny_interactions(), tiny_catalog()
    weights = {"light": {"content": 0.7, "pop": 0.3}, "warm": {"itemknn": 0.6, "content": 0.4}}
    fitted = Hybrid(collaborative=FAST, weights=weights).fit(interactions, catalog)
    composed = Hybrid.compose(
        {
            "itemknn": ItemKNN(seed=0).fit(interactions, catalog),
            "content": ContentSimilarity(mode="genre").fit(interactions, catalog),
        },
        interactions,
        catalog,
        weights=weights,
    )
    for user in ["u00", "u07", "someone-new"]:
        assert composed.recommend(user, 10) == fitted.recommend(user, 10)


def test_reasons_name_the_component_that_contributed_most(fitted: Hybrid) -> None:
    reasons = [r.reason for r in fitted.recommend("u04", 10)]
    assert all(reasons)
    assert any(
        reason.startswith(("people who like", "also", "similar", "sounds like", "popular"))
        for reason in reasons
    )


def test_save_and_load_keep_the_components(fitted: Hybrid, tmp_path: Path) -> None:
    directory = fitted.save(tmp_path / "hybrid")
    assert sorted(p.name for p in (directory / "components").iterdir()) == [
        "artists",
        "content",
        "itemknn",
        "pop",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    loaded = Hybrid.load(directory)
    assert loaded.weights == fitted.weights
    assert loaded.recommend("someone-new", 10) == fitted.recommend("someone-new", 10)


def test_a_missing_component_is_a_clear_error(fitted: Hybrid, tmp_path: Path) -> None:
    from recommender.artifacts import ArtifactError

    directory = fitted.save(tmp_path / "hybrid")
    for file in (directory / "components" / "content").iterdir():
        file.unlink()
    with pytest.raises(ArtifactError, match="no model artifact"):
        Hybrid.load(directory)


def test_all_negative_feedback_gives_the_cold_list() -> None:
    interactions = Interactions.from_rows(
        ["a", "a", "b"], ["i00", "i01", "i02"], [-1.5, -0.3, -1.5]
    )
    model = Hybrid(collaborative=FAST).fit(interactions, tiny_catalog())
    results = model.recommend("a", 5)
    assert results
    assert {"i00", "i01"}.isdisjoint(r.item for r in results)


def test_the_default_collaborative_model_is_als() -> None:
    pytest.importorskip("implicit")
    model = Hybrid().fit(tiny_interactions(), tiny_catalog())
    assert "als" in model.components
    assert model.recommend("u00", 5)


def test_compose_drops_weights_of_models_not_serving() -> None:
    interactions, catalog = tiny_interactions(), tiny_catalog()
    tuned = {"light": {"ncf": 1.0}, "warm": {"itemknn": 0.5, "ncf": 0.3, "pop": 0.2}}
    composed = Hybrid.compose(
        {"itemknn": ItemKNN(seed=0).fit(interactions, catalog)},
        interactions,
        catalog,
        weights=tuned,
    )
    assert composed.weights["warm"] == {"itemknn": 0.5, "pop": 0.2}
    assert composed.weights["light"] == composed.default_weights()["light"]


def test_without_artists_their_default_share_goes_to_content() -> None:
    """A catalog that names no artists blends as the hybrid did before artists existed."""
    interactions, catalog = tiny_interactions(), tiny_catalog()
    nameless = dataclasses.replace(catalog, artists=[()] * len(catalog))
    with_artists = Hybrid(collaborative=FAST).fit(interactions, catalog)
    without = Hybrid(collaborative=FAST).fit(interactions, nameless)

    assert "artists" in with_artists.blend_groups()
    assert without.blend_groups() == ["itemknn", "content", "pop"]
    assert without.default_weights() == {
        "light": {"itemknn": 0.0, "content": 0.7, "pop": 0.3},
        "warm": {"itemknn": 0.6, "content": 0.3, "pop": 0.1},
        "rich": {"itemknn": 0.6, "content": 0.3, "pop": 0.1},  # as warm: no artists to lead
    }
    assert with_artists.default_weights()["warm"] == {
        "itemknn": 0.4, "content": 0.2, "artists": 0.3, "pop": 0.1
    }  # fmt: skip


def test_more_from_an_artist_the_member_keeps_coming_back_to() -> None:
    """A member who liked three of an artist's tracks is offered the fourth, and told why;
    one who liked a single track of each of three artists is not pushed more of them."""
    interactions, catalog = tiny_interactions(), tiny_catalog()
    artist = catalog.main_artist(0)
    theirs = [i for i in range(len(catalog)) if catalog.main_artist(i) == artist]
    fan = [("fan", catalog.ids[i], 1.0) for i in theirs[:-1]]
    model = Hybrid(collaborative=FAST).fit(with_rows(interactions, fan), catalog)

    picks = model.recommend("fan", 5)
    last = str(catalog.ids[theirs[-1]])
    assert last in [pick.item for pick in picks]
    reason = next(pick.reason for pick in picks if pick.item == last)
    assert reason == f"by {artist}, whose songs you liked"


def test_a_member_with_a_rich_history_is_served_by_the_rich_tier() -> None:
    """Tiers by positive tracks: light under the threshold, warm from it, rich from
    `rich_from`; the rich tier leans on the member's artists, and a bad `rich_from` is
    refused."""
    interactions, catalog = tiny_interactions(), tiny_catalog()
    # u12 has a long history: twenty tracks, three of each of their favourite artists.
    rich = [f"i{index:02d}" for index in range(20)]
    more = Interactions.from_rows(
        [*interactions.users.tolist(), *["u12"] * len(rich)],
        [*interactions.items.tolist(), *rich],
    )
    model = Hybrid(collaborative=FAST, threshold=3, rich_from=20).fit(more, catalog)
    assert model.tier_of("u00") == "warm"  # six likes
    assert model.tier_of("u12") == "rich"
    assert model.tier_of("nobody") == "cold"
    defaults = model.default_weights()
    assert defaults["rich"] == {"itemknn": 0.3, "content": 0.15, "artists": 0.5, "pop": 0.05}
    assert defaults["rich"]["artists"] > defaults["warm"]["artists"]

    with pytest.raises(ValueError, match="rich_from must be an integer above the threshold"):
        Hybrid(collaborative=FAST, threshold=5, rich_from=5)
    with pytest.raises(ValueError, match="rich_from"):
        Hybrid(collaborative=FAST, rich_from=True)  # type: ignore[arg-type]


def test_a_hybrid_saved_before_the_rich_tier_loads_and_serves_rich_members_as_warm(
    tmp_path: Path,
) -> None:
    """An artifact (or a tuning) from before the rich tier has no rich weights and no
    `rich_from`: it loads, and rich members get its tuned warm weights."""
    import json

    from recommender.artifacts import MANIFEST

    weights = {"light": {"content": 1.0}, "warm": {"itemknn": 0.7, "pop": 0.3}}
    model = Hybrid(collaborative=FAST, weights=weights).fit(clustered(60), tiny_catalog())
    saved = model.save(tmp_path / "hybrid")
    manifest = json.loads((saved / MANIFEST).read_text())
    del manifest["params"]["rich_from"]
    del manifest["params"]["weights"]["rich"]
    (saved / MANIFEST).write_text(json.dumps(manifest))
    old = Hybrid.load(saved)  # the checksum covers the arrays, not the parameters
    assert old.rich_from == 20
    assert old.weights["rich"] == {"itemknn": 0.7, "pop": 0.3}
    user = str(clustered(60).users[0])
    assert [r.item for r in old.recommend(user, 5)] == [r.item for r in model.recommend(user, 5)]

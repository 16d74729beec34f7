"""Artist relations (recommender/artists.py): the recommender contract, NPMI by hand, the
baskets (playlists, members' likes and plays), held-out playlists, save and load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from recommender.artists import ArtistRelations, Playlists, artist_key
from recommender.data import Interactions, ItemCatalog
from tests.recommender.contract import RecommenderContract
from tests.recommender.tiny import tiny_catalog, tiny_interactions

NOBODY = Interactions.from_rows([], [])


def tiny_playlists() -> Playlists:
    """Two playlists per genre block of tiny_catalog (artists 0-3 rock, 3-6 pop, 6-9 jazz)."""
    tracks, playlists = [], []
    for block in range(3):
        for half in range(2):
            for offset in range(half, 10, 2):
                tracks.append(f"i{block * 10 + offset:02d}")
                playlists.append(f"p{block}{half}")
    return Playlists.of(tracks, playlists)


class TestArtistRelations(RecommenderContract):
    supports_similar_items = True

    def make_model(self, seed: int = 0) -> ArtistRelations:
        return ArtistRelations(seed=seed, playlists=tiny_playlists())


def catalog_of(artists: list[str]) -> ItemCatalog:
    """One track per entry, by that artist."""
    count = len(artists)
    return ItemCatalog(
        ids=np.asarray([f"t{i}" for i in range(count)]),
        names=[f"Song {i}" for i in range(count)],
        artists=[(artist,) for artist in artists],
        genres=[("pop",)] * count,
        popularity=np.linspace(90, 10, count),
        features=np.zeros((count, 1)),
        feature_names=("energy",),
    )


def test_npmi_by_hand() -> None:
    # Four baskets: A and B share two, A and C share one, D is alone in one.
    catalog = catalog_of(["A", "B", "C", "D"])
    playlists = Playlists.of(
        ["t0", "t1", "t0", "t1", "t0", "t2", "t3"],
        ["p1", "p1", "p2", "p2", "p3", "p3", "p4"],
    )
    model = ArtistRelations(shrink=2.0, playlists=playlists).fit(NOBODY, catalog)

    def npmi(shared: int, a: int, b: int, total: int = 4) -> float:
        p_ab = shared / total
        value = math.log(p_ab / ((a / total) * (b / total))) / -math.log(p_ab)
        return max(value, 0.0) * shared / (shared + 2.0)

    assert model.relation("a", "b") == pytest.approx(npmi(2, 3, 2), abs=1e-6)
    assert model.relation("b", "a") == pytest.approx(npmi(2, 2, 3), abs=1e-6)
    assert model.relation("a", "c") == pytest.approx(npmi(1, 3, 1), abs=1e-6)
    assert model.relation("a", "d") == 0.0  # never together
    assert model.relation("a", "a") == 1.0
    assert model.relation("a", "nobody") == 0.0
    assert [n.name for n in model.neighbours_of("a")] == ["B", "C"]  # B: twice together
    assert model.neighbours_of("d") == []
    assert model.baskets_of("a") == 3
    assert model.report["playlist_baskets"] == 4


def test_members_likes_and_plays_are_baskets_but_dislikes_are_not() -> None:
    catalog = catalog_of(["A", "B", "C", "D"])
    members = Interactions.from_rows(
        ["m1", "m1", "m2", "m2", "m3", "m3"],
        ["t0", "t1", "t0", "t1", "t2", "t3"],
        [1.0, 0.5, 1.0, 1.0, 1.0, -1.0],  # m3 disliked D
    )
    model = ArtistRelations(shrink=0.0).fit(members, catalog)

    assert model.relation("a", "b") > 0
    assert model.relation("c", "d") == 0.0
    assert model.report["member_baskets"] == 3


def test_artists_are_matched_by_folded_name() -> None:
    catalog = catalog_of(["Queen", "QUEEN ", "Aerosmith"])
    playlists = Playlists.of(["t0", "t2", "t1", "t2"], ["p1", "p1", "p2", "p2"])
    model = ArtistRelations(shrink=0.0, playlists=playlists).fit(NOBODY, catalog)

    assert artist_key(" Queen  ") == artist_key("QUEEN") == "queen"
    assert list(model.artist_keys) == ["queen", "aerosmith"]
    assert model.name_of("queen") == "Queen"
    matrix = model.matrix_for(["aerosmith", "unknown", "queen"]).toarray()
    assert matrix[0, 2] == pytest.approx(model.relation("aerosmith", "queen"))
    assert matrix[1].sum() == matrix[:, 1].sum() == 0.0


def test_held_out_playlists_teach_nothing() -> None:
    playlists = tiny_playlists()
    held_out = playlists.without(["p00", "p01"])  # the rock block's playlists
    model = ArtistRelations(playlists=held_out).fit(NOBODY, tiny_catalog())

    assert set(held_out.playlists.tolist()).isdisjoint({"p00", "p01"})
    assert len(playlists.only(["p00"])) == 5
    for artist in ("artist 0", "artist 1", "artist 2"):
        assert model.neighbours_of(artist) == []
    assert model.neighbours_of("artist 4")


def test_large_baskets_are_capped_the_same_way_each_time() -> None:
    catalog = catalog_of([f"A{i}" for i in range(40)])
    playlists = Playlists.of([f"t{i}" for i in range(40)] * 2, ["big"] * 40 + ["other"] * 40)
    first = ArtistRelations(max_basket=10, seed=3, playlists=playlists).fit(NOBODY, catalog)
    second = ArtistRelations(max_basket=10, seed=3, playlists=playlists).fit(NOBODY, catalog)

    assert first.report["relations"] == second.report["relations"] > 0
    assert np.array_equal(first.matrix_for(list(first.artist_keys)).toarray(),
                          second.matrix_for(list(second.artist_keys)).toarray())  # fmt: skip
    assert max(len(first.neighbours_of(k, 100)) for k in first.artist_keys) <= 19


def test_a_member_is_told_which_liked_artist_a_pick_comes_from(tmp_path: Path) -> None:
    model = ArtistRelations(playlists=tiny_playlists()).fit(tiny_interactions(), tiny_catalog())
    user = str(tiny_interactions().users[0])

    picks = model.recommend(user, 5)
    assert "whose songs you liked" in picks[0].reason
    # Tracks of unrelated artists (NPMI 0) come last, by popularity, and say so.
    assert all(
        pick.reason.endswith(("whom you liked", "whose songs you liked"))
        or (pick.reason == "popular in the catalog" and pick.score < 1e-3)
        for pick in picks
    )
    loaded = ArtistRelations.load(model.save(tmp_path / "artists"))
    assert loaded.report == model.report
    assert loaded.neighbours_of("artist 4") == model.neighbours_of("artist 4")
    assert loaded.recommend(user, 5) == picks


@pytest.mark.parametrize(
    "options",
    [{"method": "svd"}, {"neighbours": 0}, {"shrink": -1.0}, {"max_basket": 1}],
)
def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        ArtistRelations(**options)  # type: ignore[arg-type]


def test_no_catalog_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="catalog"):
        ArtistRelations().fit(NOBODY)


def test_cosine_relations() -> None:
    catalog = catalog_of(["A", "B", "C"])
    playlists = Playlists.of(["t0", "t1", "t0", "t2"], ["p1", "p1", "p2", "p2"])
    model = ArtistRelations(method="cosine", shrink=0.0, playlists=playlists).fit(NOBODY, catalog)

    assert model.relation("a", "b") == pytest.approx(1 / math.sqrt(2 * 1))

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


def blend_world() -> tuple[ItemCatalog, Playlists]:
    """Artists A (4 tracks), B (3), C (3) and D (3): B is played alongside A, D alongside
    C, and neither pair alongside the other."""
    catalog = catalog_of(["A"] * 4 + ["B"] * 3 + ["C"] * 3 + ["D"] * 3)
    playlists = Playlists.of(
        ["t0", "t4", "t1", "t5", "t7", "t10", "t8", "t11"],
        ["p1", "p1", "p2", "p2", "p3", "p3", "p4", "p4"],
    )
    return catalog, playlists


def test_in_the_blend_an_artist_counts_for_itself_from_two_of_the_members_tracks() -> None:
    catalog, playlists = blend_world()
    relations = ArtistRelations(playlists=playlists).fit(NOBODY, catalog).serving_blend()
    assert relations.favourite_from == 2
    assert relations.related_only
    one_c = relations.with_users(Interactions.from_rows(["m"], ["t7"]))
    two_a = relations.with_users(Interactions.from_rows(["m", "m"], ["t0", "t1"]))

    scores = one_c.score_users(["m"])[0]
    # One liked song of C: not more of C for it, but D (played alongside C); A, B unscored.
    assert np.isneginf(scores[[8, 9]]).all()
    assert (scores[10:] > 0).all()
    assert np.isneginf(scores[:7]).all()
    scores = two_a.score_users(["m"])[0]
    # Two of A's: more of A first, then B (played alongside A); C and D left unscored.
    assert min(scores[2], scores[3]) > max(scores[4:7]) > 0
    assert np.isneginf(scores[7:]).all()
    assert two_a.reason("m", 2) == "by A, whose songs you liked"
    assert two_a.reason("m", 4) == "often played alongside A, whom you liked"


def test_the_blend_names_artists_a_member_only_played() -> None:
    catalog, playlists = blend_world()
    relations = ArtistRelations(playlists=playlists).fit(NOBODY, catalog).serving_blend()
    # Two of A's songs played, a third skipped (a weak negative): A is still one they play.
    plays = Interactions.from_rows(["m", "m", "m"], ["t0", "t1", "t2"], [2.5, 1.0, -0.2])
    member = relations.with_users(plays, played={"t0", "t1"})
    assert member.reason("m", 3) == "by A, whom you play a lot"
    assert member.reason("m", 5) == "often played alongside A, whom you play"
    # The shared model is untouched: it knows no member.
    assert np.isneginf(relations.score_users(["m"])[0]).all()


def test_the_blend_settings_survive_saving(tmp_path: Path) -> None:
    catalog, playlists = blend_world()
    fitted = ArtistRelations(playlists=playlists).fit(
        Interactions.from_rows(["m", "m", "n"], ["t0", "t1", "t4"]), catalog
    )
    model = fitted.serving_blend()
    loaded = ArtistRelations.load(model.save(tmp_path / "blend"))
    assert (loaded.favourite_from, loaded.related_only) == (2, True)
    np.testing.assert_array_equal(loaded.score_users(["m", "n"]), model.score_users(["m", "n"]))


@pytest.mark.parametrize(
    "options",
    [
        {"method": "svd"},
        {"neighbours": 0},
        {"shrink": -1.0},
        {"max_basket": 1},
        {"favourite_from": 0},
        {"favourite_from": 1.5},
    ],
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

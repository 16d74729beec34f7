"""Style similarity (recommender/style.py): the seed's world first, then its sound; the
fallbacks for what a catalog lacks; reasons; artists like an artist."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from recommender.artists import ArtistRelations, Playlists
from recommender.content import ContentSimilarity
from recommender.data import Interactions, ItemCatalog
from recommender.style import StyleSimilarity, StyleWeights, decade
from tests.recommender.tiny import tiny_catalog

NOBODY = Interactions.from_rows([], [])
FEATURES = ("danceability", "energy", "valence")
# (id, name, artist, genres, year or None, features)
ROWS: list[tuple[str, str, str, tuple[str, ...], float | None, tuple[float, float, float]]] = [
    ("s0", "Take On Me", "a-ha", ("pop", "synth-pop"), 1985, (0.7, 0.8, 0.9)),
    ("s1", "Sweet Dreams", "Eurythmics", ("pop", "synth-pop"), 1983, (0.6, 0.7, 0.5)),
    ("s2", "Tainted Love", "Soft Cell", ("pop", "synth-pop"), 1981, (0.65, 0.75, 0.6)),
    ("s3", "Hunting High", "a-ha", ("pop", "synth-pop"), 1985, (0.5, 0.5, 0.5)),
    ("s4", "Later Synth", "Revival", ("pop", "synth-pop"), 2015, (0.7, 0.8, 0.88)),
    ("s5", "Neon Twin", "Modern Star", ("pop",), 2021, (0.7, 0.8, 0.9)),  # Take On Me's sound
    ("s6", "Dream On", "Aerosmith", ("rock", "album rock"), 1973, (0.4, 0.6, 0.3)),
    ("s7", "Rhapsody", "Queen", ("rock", "album rock"), 1975, (0.45, 0.65, 0.35)),
    ("s8", "Queen B-Side", "Queen", (), None, (0.42, 0.6, 0.3)),  # no genre, no year
    ("s9", "Lonely Song", "Lonely Bard", (), None, (0.1, 0.1, 0.1)),  # knows nothing
    ("s10", "Take On Me - Live", "a-ha", ("pop", "synth-pop"), 1986, (0.7, 0.8, 0.9)),
]
PLAYLISTS = Playlists.of(
    ["s0", "s1", "s2", "s3", "s6", "s7"], ["80s", "80s", "80s", "80s", "rock", "rock"]
)


def catalog(rows: list[tuple] = ROWS) -> ItemCatalog:  # type: ignore[type-arg]
    return ItemCatalog(
        ids=np.asarray([row[0] for row in rows]),
        names=[row[1] for row in rows],
        artists=[(row[2],) for row in rows],
        genres=[row[3] for row in rows],
        popularity=np.linspace(90, 40, len(rows)),
        features=np.asarray([row[5] for row in rows], dtype=float),
        feature_names=FEATURES,
        years=np.asarray([np.nan if row[4] is None else row[4] for row in rows], dtype=float),
    )


def style(weights: StyleWeights | None = None, relations: bool = True) -> StyleSimilarity:
    items = catalog()
    related = ArtistRelations(playlists=PLAYLISTS).fit(NOBODY, items) if relations else None
    # The features themselves are the embedding here: sound is plain distance.
    return StyleSimilarity.fit(
        items,
        np.asarray(items.features, dtype=np.float32),
        relations=related,
        weights=weights or StyleWeights(),
        reason_features=FEATURES,
        reason_scores=np.asarray(items.features) - 0.5,
    )


def ids(results: list) -> list[str]:  # type: ignore[type-arg]
    return [result.item for result in results]


def test_the_seeds_world_comes_before_its_sound_twin() -> None:
    found = style().similar_items("s0", 4)

    # a-ha's other song, then 80s synth-pop played with a-ha; not the 2021 sound twin.
    assert ids(found)[:3] == ["s3", "s1", "s2"]
    assert "s5" not in ids(found)[:3]
    assert "s0" not in ids(found)  # itself
    assert "s10" not in ids(found)  # another version of it
    assert [r.score for r in found] == sorted((r.score for r in found), reverse=True)
    assert found[0].reason.startswith("also 80s synth-pop, more a-ha")
    assert found[1].reason.startswith("also 80s synth-pop, often played alongside a-ha")
    assert "with similar" in found[1].reason


def test_sound_alone_finds_the_twin_and_era_alone_the_decade() -> None:
    sound = style(StyleWeights(genre=0, era=0, artist=0, sound=1, require_genre=False))
    era = style(StyleWeights(genre=0, era=1, artist=0, sound=0, require_genre=False))

    assert ids(sound.similar_items("s0", 1)) == ["s5"]
    assert ids(era.similar_items("s0", 2)) == ["s3", "s1"]  # 1985, then 1983


def test_relations_pull_related_artists_up_and_say_so() -> None:
    plain = style(relations=False)
    related = style()

    def rank(model: StyleSimilarity) -> list[str]:
        return ids(model.similar_items("s0", 6))

    assert rank(related).index("s2") <= rank(plain).index("s2")
    assert "often played alongside" not in " ".join(r.reason for r in plain.similar_items("s0", 6))
    assert plain.relations_label == "none"


def test_a_track_without_genres_or_year_borrows_its_artists() -> None:
    model = style()
    found = model.similar_items("s8", 3)  # Queen's B-side: no genre, no year

    assert model.year[7] == 1975
    assert model.year[8] == 1975  # Queen's median year
    assert set(ids(found)[:2]) == {"s6", "s7"}  # rock, by borrowing Queen's genres


def test_a_seed_of_which_nothing_is_known_is_answered() -> None:
    model = style()
    found = model.similar_items("s9", 5)  # one track, no genre, no year, no playlist

    assert len(found) == 5
    assert "s9" not in ids(found)
    assert all(result.reason for result in found)


def test_a_seed_without_audio_features_keeps_its_world() -> None:
    items = catalog()
    has = np.ones(len(items), bool)
    has[0] = False  # Take On Me without features: never offered, but a seed
    model = StyleSimilarity.fit(items, np.asarray(items.features, np.float32), has, relations=None)

    assert ids(model.similar_items("s0", 3)) == ["s3", "s1", "s2"]
    assert "s0" not in ids(model.similar_items("s1", 10))


def test_too_few_in_the_genre_fill_with_the_rest_after_them() -> None:
    found = style().similar_items("s6", 6)  # rock: Queen twice, then nothing else

    assert len(found) == 6
    assert set(ids(found)[:2]) == {"s7", "s8"}  # Queen: own and borrowed rock, then others
    assert all(result.score < 5 for result in found)  # no ranking bonus shows


def test_the_artist_cap_and_unknown_items() -> None:
    model = style(StyleWeights(genre=0, era=0, artist=1, sound=0, require_genre=False))
    found = model.similar_items("s1", 10)

    assert sum(1 for item in ids(found) if item in {"s0", "s3", "s10"}) <= 2
    assert model.similar_items("nope", 3) == []
    with pytest.raises(ValueError, match="1 to 5"):
        model.mix([f"s{i}" for i in range(6)], 3)


def test_a_mix_names_the_seed_each_pick_is_like() -> None:
    found = style().mix(["s0", "s6"], 6)

    assert not {"s0", "s6", "s10"} & set(ids(found))
    assert all(result.reason.startswith("like ") for result in found)
    assert any(result.reason.startswith("like Take On Me by a-ha") for result in found)
    assert any(result.reason.startswith("like Dream On by Aerosmith") for result in found)


def test_the_same_inputs_give_the_same_answers() -> None:
    first, second = style(), style()
    for seed in ("s0", "s6", "s8", "s9"):
        assert first.similar_items(seed, 5) == second.similar_items(seed, 5)


def test_the_candidate_pool_changes_nothing_here() -> None:
    exact = style(StyleWeights(pool=0))
    pooled = style(StyleWeights(pool=2))  # too few after the rules: the pool grows
    assert ids(exact.similar_items("s0", 5)) == ids(pooled.similar_items("s0", 5))


def test_artists_like_an_artist() -> None:
    model = style()
    eighties = model.similar_artists("a-ha", 3)

    assert [match.name for match in eighties[:2]] == ["Eurythmics", "Soft Cell"]
    assert eighties[0].reason == "often played alongside a-ha, also 80s synth-pop"
    assert eighties[0].best_track == "s1"
    queen = model.similar_artists("queen", 1)[0]
    assert queen.name == "Aerosmith"
    assert queen.reason.startswith("often played alongside Queen, also 70s album rock")
    bard = model.similar_artists("lonely bard", 3)  # one track, knows nothing else
    assert len(bard) == 3
    assert all(match.reason for match in bard)
    assert model.similar_artists("nobody at all", 3) == []


def test_from_a_content_model_without_years() -> None:
    items = tiny_catalog()  # no release years at all
    content = ContentSimilarity(seed=0, representation="features").fit(NOBODY, items)
    model = StyleSimilarity.from_content(content)

    found = model.similar_items("i00", 5)
    assert len(found) == 5
    assert all(items.genres[items.vocab.index(r.item)] == ("rock",) for r in found)
    assert model.report()["tracks_with_year"] == 0


def test_weights_are_checked_and_decades_named() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        StyleWeights(era=-1)
    with pytest.raises(ValueError, match="era_scale"):
        StyleWeights(era_scale=0)
    assert replace(StyleWeights(), pool=5).pool == 5
    assert (decade(1983), decade(1979), decade(2008), decade(2021)) == (
        "80s",
        "70s",
        "2000s",
        "2020s",
    )


def test_release_years_are_optional_in_the_catalog() -> None:
    plain = tiny_catalog()  # built without years, as every older caller does
    assert plain.years is None
    assert np.isnan(plain.release_years).all()
    assert len(plain.release_years) == len(plain)
    with pytest.raises(ValueError, match="years must have one entry per item"):
        replace(plain, years=np.zeros(3))


def test_the_content_model_keeps_release_years_through_save_and_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    items = catalog()
    content = ContentSimilarity(seed=0, representation="features").fit(NOBODY, items)

    loaded = ContentSimilarity.load(content.save(tmp_path / "content"))

    np.testing.assert_array_equal(loaded.catalog.release_years, items.release_years)
    rebuilt = StyleSimilarity.from_content(loaded)
    assert rebuilt.similar_items("s0", 3) == StyleSimilarity.from_content(content).similar_items(
        "s0", 3
    )

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from recommender.data import Interactions, ItemCatalog
from recommender.trending import (
    CATALOG_CHART,
    EARWORM_CHART,
    LONELY_SERVER_NOTE,
    SERVER_CHART,
    CatalogTrending,
    FeedbackTrending,
    UnknownGenreError,
    genre_key,
    trending_chart,
)
from tests.recommender.contract import RecommenderContract

DAY = 86_400
NOW = 1_700_000_000
LIKE, LOVE, SKIP, DISLIKE = 1.0, 2.0, -0.3, -1.5


class TestCatalogTrending(RecommenderContract):
    def make_model(self, seed: int = 0) -> CatalogTrending:
        return CatalogTrending()


class TestCatalogTrendingOnePerArtist(RecommenderContract):
    def make_model(self, seed: int = 0) -> CatalogTrending:
        return CatalogTrending(per_artist=1)


class TestFeedbackTrending(RecommenderContract):
    def make_model(self, seed: int = 0) -> FeedbackTrending:
        # In the tiny world every liked track has exactly two fans.
        return FeedbackTrending(min_users=2)


# --- a hand-made catalog --------------------------------------------------------------------


def catalog_of(
    tracks: Sequence[tuple[str, str, str, float | None, tuple[str, ...]]],
) -> ItemCatalog:
    """(id, name, main artist, popularity, genres) per track."""
    return ItemCatalog(
        ids=np.asarray([track[0] for track in tracks], dtype=np.str_),
        names=[track[1] for track in tracks],
        artists=[(track[2],) for track in tracks],
        genres=[track[4] for track in tracks],
        popularity=np.asarray(
            [np.nan if track[3] is None else track[3] for track in tracks], dtype=float
        ),
        features=np.zeros((len(tracks), 0)),
        feature_names=(),
    )


NO_FEEDBACK = Interactions.from_rows([], [])

STAR_AND_ONE_HIT = catalog_of(
    [
        ("a1", "Crazy in Love", "Beyoncé", 90, ("pop", "r&b")),
        ("a2", "Halo", "Beyoncé", 80, ("pop",)),
        ("a3", "Formation", "Beyoncé", 70, ("hip hop",)),
        ("a4", "Album Filler", "Beyoncé", 10, ("pop",)),
        ("b1", "One Hit", "Wonder", 84, ("rock",)),
        ("c1", "Unknown Popularity", "Mystery", None, ("pop",)),
    ]
)


def chart_items(entries: Sequence[object]) -> list[str]:
    return [entry.item for entry in entries]  # type: ignore[attr-defined]


def test_catalog_scores_are_the_mean_of_track_and_artist_popularity() -> None:
    model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    # Beyoncé: mean of her three best songs = (90 + 80 + 70) / 3 = 80; Wonder: 84.
    # a1 (90 + 80) / 2 = 85, b1 (84 + 84) / 2 = 84, a2 (80 + 80) / 2 = 80; a3 is her third.
    assert [(entry.item, entry.score) for entry in model.top(10)] == [
        ("a1", 85.0),
        ("b1", 84.0),
        ("a2", 80.0),
    ]
    assert model.top(1)[0].reason == "one of Beyoncé's most popular tracks"
    assert model.top(1)[0].chart == CATALOG_CHART


def test_one_track_per_artist_when_asked() -> None:
    model = CatalogTrending(per_artist=1).fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    assert chart_items(model.top(10)) == ["a1", "b1"]


def test_tracks_without_popularity_never_chart() -> None:
    model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    assert "c1" not in chart_items(model.top(10))
    assert "c1" not in chart_items(model.top(10, genre="pop"))


def test_at_most_per_artist_tracks_per_artist_on_a_big_catalog() -> None:
    rng = np.random.default_rng(7)
    tracks = [
        (f"t{n}", f"Song {n}", f"Artist {n % 13}", float(rng.integers(0, 100)), ("pop",))
        for n in range(300)
    ]
    model = CatalogTrending(per_artist=2).fit(NO_FEEDBACK, catalog_of(tracks))
    artist_of = {track[0]: track[2] for track in tracks}
    for entries in (model.top(1000), model.top(1000, genre="pop")):
        per_artist = Counter(artist_of[item] for item in chart_items(entries))
        assert len(per_artist) == 13
        assert set(per_artist.values()) == {2}


def test_no_two_versions_of_a_song() -> None:
    catalog = catalog_of(
        [
            ("h1", "Halo", "Beyoncé", 90, ("pop",)),
            ("h2", "Halo - Live at Wembley", "Beyoncé", 95, ("pop",)),
            ("h3", "Halo (Acoustic)", "Beyoncé", 92, ("pop",)),
            ("s1", "Sorry", "Beyoncé", 60, ("pop",)),
        ]
    )
    model = CatalogTrending().fit(NO_FEEDBACK, catalog)
    # The best-liked version stands for the song; the second place goes to another song.
    assert chart_items(model.top(10)) == ["h2", "s1"]
    assert chart_items(model.top(10, genre="pop")) == ["h2", "s1"]


def test_genre_chart_applies_the_artist_cap_within_the_genre() -> None:
    model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    pop = model.top(10, genre="pop")
    assert chart_items(pop) == ["a1", "a2"]
    assert pop[0].reason == "popular in pop: one of Beyoncé's most popular tracks"
    # Formation is Beyoncé's third song overall, but her best in hip hop.
    assert chart_items(model.top(10, genre="Hip-Hop")) == ["a3"]
    assert model.top(10, genre="HIP HOP")[0].reason.startswith("popular in hip hop:")


def test_unknown_genre_suggests_close_names() -> None:
    model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    with pytest.raises(UnknownGenreError, match="did you mean 'rock'") as error:
        model.top(5, genre="rokc")
    assert error.value.close
    with pytest.raises(UnknownGenreError) as nothing_close:
        model.top(5, genre="zzzzzz")
    assert not nothing_close.value.close
    assert nothing_close.value.suggestions[0] == "pop"  # the biggest genre first


def test_genre_keys_forgive_case_accents_and_punctuation() -> None:
    assert genre_key("Hip-Hop") == genre_key("hip hop") == genre_key("HIPHOP") == "hiphop"
    assert genre_key("Électro") == "electro"


def test_recommend_is_the_chart_minus_what_the_member_has_seen() -> None:
    feedback = Interactions.from_rows(["u1", "u1"], ["a1", "a2"], [LIKE, DISLIKE])
    model = CatalogTrending().fit(feedback, STAR_AND_ONE_HIT)
    assert chart_items(model.recommend("u1", 10)) == ["b1"]
    assert chart_items(model.recommend("stranger", 10)) == ["a1", "b1", "a2"]
    assert chart_items(model.recommend("stranger", 10, exclude={"b1"})) == ["a1", "a2"]


def test_new_feedback_changes_what_is_excluded_not_the_chart() -> None:
    before = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    feedback = Interactions.from_rows(["u1", "u1"], ["a1", "a2"], [LIKE, DISLIKE])

    refreshed = before.with_interactions(feedback)

    fitted = CatalogTrending().fit(feedback, STAR_AND_ONE_HIT)
    for member in ("u1", "stranger"):
        assert refreshed.recommend(member, 10) == fitted.recommend(member, 10)
    assert chart_items(refreshed.recommend("u1", 10)) == ["b1"]
    assert chart_items(before.recommend("u1", 10)) == ["a1", "b1", "a2"]  # left as it was


def test_catalog_chart_needs_a_catalog_and_a_sane_cap() -> None:
    with pytest.raises(ValueError, match="ItemCatalog"):
        CatalogTrending().fit(NO_FEEDBACK)
    with pytest.raises(ValueError, match="per_artist"):
        CatalogTrending(per_artist=0)


def test_empty_catalog_gives_an_empty_chart() -> None:
    model = CatalogTrending().fit(NO_FEEDBACK, catalog_of([]))
    assert model.top(5) == []
    assert model.recommend("u1", 5) == []


def test_catalog_chart_round_trips_genre_charts(tmp_path: Path) -> None:
    model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    loaded = CatalogTrending.load(model.save(tmp_path / "model"))
    assert loaded.top(10, genre="hip-hop") == model.top(10, genre="hip-hop")
    assert loaded.genres == model.genres


# --- feedback ---------------------------------------------------------------------------------

FEEDBACK_CATALOG = catalog_of(
    [
        (
            f"x{n}",
            f"Song {n}",
            f"Artist {n}",
            50,
            ("jazz",) if n >= 6 else (("pop", "rock")[n % 2],),
        )
        for n in range(8)
    ]
)


def feedback(
    events: Sequence[tuple[str, str, float, float, str]],
) -> tuple[Interactions, list[str]]:
    """(user, item, weight, days before NOW, server) per event; "" is a DM."""
    interactions = Interactions.from_rows(
        [event[0] for event in events],
        [event[1] for event in events],
        [event[2] for event in events],
        [int(NOW - event[3] * DAY) for event in events],
    )
    return interactions, [event[4] for event in events]


def fit_feedback(
    events: Sequence[tuple[str, str, float, float, str]], **options: float
) -> FeedbackTrending:
    interactions, groups = feedback(events)
    min_users = int(options.pop("min_users", 3))
    return FeedbackTrending(min_users=min_users, **options).fit(
        interactions, FEEDBACK_CATALOG, groups=groups, now=NOW
    )


def scores(model: FeedbackTrending, **query: str) -> dict[str, float]:
    return {entry.item: entry.score for entry in model.top(100, **query)}


def test_a_like_a_week_old_counts_half() -> None:
    model = fit_feedback(
        [("u1", "x1", LIKE, 0, ""), ("u2", "x1", LIKE, 7, ""), ("u3", "x1", LIKE, 14, "")]
    )
    assert scores(model) == pytest.approx({"x1": 1 + 0.5 + 0.25})


def test_half_life_is_configurable() -> None:
    events = [("u1", "x1", LIKE, 0, ""), ("u2", "x1", LIKE, 1, ""), ("u3", "x1", LOVE, 2, "")]
    model = fit_feedback(events, half_life_days=1.0)
    assert scores(model) == pytest.approx({"x1": 1 + 0.5 + 2 * 0.25})


def test_now_defaults_to_the_newest_feedback() -> None:
    interactions, groups = feedback([(f"u{n}", "x1", LIKE, 10 + n * 7, "") for n in range(3)])
    model = FeedbackTrending().fit(interactions, groups=groups)
    assert model.now == NOW - 10 * DAY
    assert scores(model) == pytest.approx({"x1": 1 + 0.5 + 0.25})


def test_a_track_liked_by_two_members_never_charts() -> None:
    two_fans = [("u1", "x1", LOVE, 0, "1"), ("u2", "x1", LOVE, 0, "1")]
    for _ in range(20):
        two_fans.append(("u1", "x1", LIKE, 0, "1"))
    model = fit_feedback(two_fans)
    assert model.top(10) == []
    assert model.top(10, guild="1") == []
    assert chart_items(fit_feedback([*two_fans, ("u3", "x1", LIKE, 0, "1")]).top(10)) == ["x1"]


def test_one_member_spamming_cannot_chart() -> None:
    spam = [("spammer", "x1", LIKE, day / 10, "1") for day in range(50)]
    assert fit_feedback(spam).top(10) == []
    assert fit_feedback(spam, min_users=1).top(10)  # the spam itself is seen...
    # ...but counts as one like: 50 likes and two other likes weigh the same as 3 likes.
    others = [("u2", "x1", LIKE, 0, "1"), ("u3", "x1", LIKE, 0, "1")]
    fair = [(member, "x2", LIKE, 0, "1") for member in ("v1", "v2", "v3")]
    model = fit_feedback([*spam, *others, *fair], half_life_days=1e9)
    assert scores(model) == pytest.approx({"x1": 3.0, "x2": 3.0})


def test_dislikes_and_skips_push_a_track_down() -> None:
    fans = [(f"u{n}", item, LIKE, 0, "") for n in range(3) for item in ("x1", "x2", "x3")]
    pans = [("hater", "x2", DISLIKE, 0, ""), ("bored", "x3", SKIP, 0, "")]
    model = fit_feedback([*fans, *pans])
    assert chart_items(model.top(10)) == ["x1", "x3", "x2"]
    assert scores(model) == pytest.approx({"x1": 3.0, "x3": 2.7, "x2": 1.5})


def test_a_track_more_disliked_than_liked_does_not_chart() -> None:
    events = [(f"u{n}", "x1", LIKE, 0, "") for n in range(3)]
    events += [(f"h{n}", "x1", DISLIKE, 0, "") for n in range(2)]
    assert fit_feedback(events).top(10) == []


def test_a_changed_mind_nets_out() -> None:
    # u1 liked, then disliked: 1 - 1.5 < 0, so u1 is no longer a fan.
    events = [("u1", "x1", LIKE, 1, ""), ("u1", "x1", DISLIKE, 0, "")]
    events += [("u2", "x1", LIKE, 0, ""), ("u3", "x1", LIKE, 0, "")]
    assert fit_feedback(events).top(10) == []


def test_feedback_older_than_eight_half_lives_is_forgotten() -> None:
    events = [(f"u{n}", "x1", LOVE, 57, "") for n in range(5)]
    events.append(("someone", "x2", LIKE, 0, ""))
    assert fit_feedback(events).top(10) == []


SERVERS = [
    *[(f"a{n}", "x1", LIKE, 0, "111") for n in range(3)],
    *[(f"b{n}", "x2", LOVE, 0, "222") for n in range(3)],
    # x3: two fans in each server, so it charts only across Earworm.
    *[(f"a{n}", "x3", LIKE, 0, "111") for n in range(2)],
    *[(f"b{n}", "x3", LIKE, 0, "222") for n in range(2)],
]


def test_each_server_has_its_own_chart() -> None:
    model = fit_feedback(SERVERS)
    assert model.servers == ["111", "222"]
    server = model.top(10, guild="111")
    assert [(entry.item, entry.chart) for entry in server] == [
        ("x1", SERVER_CHART),
        ("x2", EARWORM_CHART),
        ("x3", EARWORM_CHART),
    ]
    assert server[0].reason == "popular in this server: 3 members liked it recently"
    assert server[1].reason == "trending across Earworm: 3 listeners liked it recently"
    assert chart_items(model.top(10, guild="222")) == ["x2", "x3", "x1"]
    assert chart_items(model.top(2, guild="222")) == ["x2", "x3"]  # x2 is not listed twice
    assert [(entry.item, entry.chart) for entry in model.top(1, guild="111")] == [
        ("x1", SERVER_CHART)
    ]
    assert chart_items(model.top(10)) == ["x2", "x3", "x1"]
    assert scores(model) == pytest.approx({"x2": 6.0, "x3": 4.0, "x1": 3.0})


def test_a_quiet_server_falls_back_to_the_earworm_chart_and_says_so() -> None:
    model = fit_feedback(SERVERS)
    quiet = model.top(10, guild="999")
    assert chart_items(quiet) == chart_items(model.top(10))
    assert {entry.chart for entry in quiet} == {EARWORM_CHART}
    assert all(entry.reason.endswith(f"({LONELY_SERVER_NOTE})") for entry in quiet)


def test_a_member_counts_once_across_servers_and_dms() -> None:
    events = [("u1", "x1", LIKE, 0, server) for server in ("111", "222", "")]
    events += [("u2", "x1", LIKE, 0, "111")]
    assert fit_feedback(events).top(10) == []  # two members, however many places
    assert scores(fit_feedback(events, min_users=2)) == pytest.approx({"x1": 2.0})


def test_feedback_chart_by_genre() -> None:
    events = [(f"u{n}", item, LIKE, 0, "111") for n in range(3) for item in ("x1", "x2", "x3")]
    model = fit_feedback(events)
    assert chart_items(model.top(10, genre="Rock")) == ["x1", "x3"]
    assert chart_items(model.top(10, genre="pop", guild="111")) == ["x2"]
    assert model.top(10, genre="jazz") == []  # a genre without feedback is known, just quiet
    with pytest.raises(UnknownGenreError, match="did you mean 'rock'"):
        model.top(10, genre="rok")


def test_a_genre_without_a_catalog_is_unknown() -> None:
    interactions, groups = feedback([(f"u{n}", "x1", LIKE, 0, "") for n in range(3)])
    model = FeedbackTrending().fit(interactions, groups=groups)
    with pytest.raises(UnknownGenreError, match="no genres are known"):
        model.top(10, genre="pop")


def test_feedback_chart_round_trips_servers_and_genres(tmp_path: Path) -> None:
    model = fit_feedback(SERVERS)
    loaded = FeedbackTrending.load(model.save(tmp_path / "model"))
    assert loaded.top(10, guild="111") == model.top(10, guild="111")
    assert loaded.top(10, genre="rock", guild="222") == model.top(10, genre="rock", guild="222")
    assert (loaded.half_life_days, loaded.min_users, loaded.now) == (7.0, 3, NOW)


def test_feedback_chart_checks_its_settings() -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        FeedbackTrending(half_life_days=0)
    with pytest.raises(ValueError, match="half_life_days"):
        FeedbackTrending(half_life_days=float("nan"))
    with pytest.raises(ValueError, match="min_users"):
        FeedbackTrending(min_users=0)
    interactions, _ = feedback([("u1", "x1", LIKE, 0, "")])
    with pytest.raises(ValueError, match="one entry per interaction"):
        FeedbackTrending().fit(interactions, groups=["1", "2"])


def test_no_feedback_at_all_is_an_empty_chart() -> None:
    model = FeedbackTrending().fit(NO_FEEDBACK, FEEDBACK_CATALOG, groups=[])
    assert model.top(10) == []
    assert model.top(10, guild="111") == []
    assert model.recommend("u1", 10) == []


# --- what /trending shows ---------------------------------------------------------------------


def test_the_chart_tops_up_from_earworm_then_the_catalog() -> None:
    catalog_model = CatalogTrending().fit(NO_FEEDBACK, FEEDBACK_CATALOG)
    feedback_model = fit_feedback(SERVERS)
    entries = trending_chart(6, catalog_model, feedback_model, guild="111")
    assert [entry.chart for entry in entries] == [
        SERVER_CHART,
        EARWORM_CHART,
        EARWORM_CHART,
        CATALOG_CHART,
        CATALOG_CHART,
        CATALOG_CHART,
    ]
    assert len(set(chart_items(entries))) == 6
    assert not any(LONELY_SERVER_NOTE in entry.reason for entry in entries)
    quiet = trending_chart(6, catalog_model, feedback_model, guild="999")
    assert [entry.chart for entry in quiet] == [EARWORM_CHART] * 3 + [CATALOG_CHART] * 3
    assert all(entry.reason.endswith(f"({LONELY_SERVER_NOTE})") for entry in quiet)


def test_without_feedback_the_chart_is_the_catalog_and_a_server_hears_why() -> None:
    catalog_model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    empty = FeedbackTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    plain = trending_chart(3, catalog_model, empty)
    assert plain == catalog_model.top(3)
    for_server = trending_chart(3, catalog_model, empty, guild="111")
    assert chart_items(for_server) == chart_items(plain)
    assert all(entry.reason.endswith(f"({LONELY_SERVER_NOTE})") for entry in for_server)
    assert trending_chart(3, catalog_model, None) == plain


def test_the_chart_checks_the_genre_against_the_catalog() -> None:
    catalog_model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    with pytest.raises(UnknownGenreError, match="'r&b'"):
        trending_chart(3, catalog_model, None, genre="rnb")
    assert chart_items(trending_chart(3, catalog_model, None, genre="R&B")) == ["a1"]


@pytest.mark.parametrize("k", [0, -1])
def test_the_chart_rejects_a_bad_k(k: int) -> None:
    catalog_model = CatalogTrending().fit(NO_FEEDBACK, STAR_AND_ONE_HIT)
    with pytest.raises(ValueError, match="k must be"):
        trending_chart(k, catalog_model)

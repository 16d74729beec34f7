"""TrendingTally keeps the feedback chart from new rows only; every test compares it with
FeedbackTrending fitted from scratch on the rows that are alive at that moment."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recommender.data import Interactions, ItemCatalog
from recommender.trending import (
    EARWORM_CHART,
    LONELY_SERVER_NOTE,
    REBASE_HALF_LIVES,
    SERVER_CHART,
    CatalogTrending,
    ChartEntry,
    FeedbackTrending,
    TrendingTally,
    UnknownGenreError,
    _SortedKeys,
    trending_chart,
)
from tests.recommender.test_trending import catalog_of

DAY = 86_400
NOW = 1_700_000_000
LIKE, LOVE, SKIP, DISLIKE = 1.0, 2.0, -0.3, -1.5

Row = tuple[str, str, str, float, int]  # member, track, server ("" in DMs), weight, time

CATALOG = catalog_of(
    [
        ("x0", "Song 0", "Artist 0", 50, ("pop",)),
        ("x1", "Song 1", "Artist 1", 50, ("rock", "pop")),
        ("x2", "Song 2", "Artist 2", 50, ("Hip-Hop",)),
        ("x3", "Song 3", "Artist 3", 50, ("hip hop", "rock")),
        ("x4", "Song 4", "Artist 4", 50, ("jazz",)),
        ("x5", "Song 5", "Artist 5", 50, ("pop",)),
        ("x6", "Song 6", "Artist 6", 50, ("rock",)),
        ("x7", "Song 7", "Artist 7", 50, ()),
        ("x8", "Song 8", "Artist 8", 50, ("classical",)),  # never gets feedback
    ]
)
MEMBERS = [f"m{n}" for n in range(6)]
TRACKS = [f"x{n}" for n in range(8)] + ["zz"]  # zz is not in the catalog: ignored
PLACES = ["", "s1", "s2"]
KS = (1, 2, 4, 25)
GUILDS = (None, "s1", "s2", "nowhere", "")
GENRES = (None, "pop", "HIP HOP", "rock", "jazz", "classical")


def columns(rows: Sequence[Row]) -> tuple[list[str], list[str], list[str], list[float], list[int]]:
    return (
        [row[0] for row in rows],
        [row[1] for row in rows],
        [row[2] for row in rows],
        [row[3] for row in rows],
        [row[4] for row in rows],
    )


def refit(
    rows: Sequence[Row],
    now: float,
    *,
    half_life_days: float = 7.0,
    min_users: int = 3,
    catalog: ItemCatalog | None = CATALOG,
) -> FeedbackTrending:
    users, items, servers, weights, times = columns(rows)
    interactions = Interactions.from_rows(users, items, weights, times)
    return FeedbackTrending(half_life_days, min_users).fit(
        interactions, catalog, groups=servers, now=now
    )


def assert_same(got: Sequence[ChartEntry], want: Sequence[ChartEntry]) -> None:
    assert [(e.item, e.reason, e.chart) for e in got] == [(e.item, e.reason, e.chart) for e in want]
    assert [e.score for e in got] == pytest.approx([e.score for e in want], rel=1e-9)


class Mirror:
    """A tally and the rows it should hold, in the order they were added."""

    def __init__(
        self,
        half_life_days: float = 7.0,
        min_users: int = 3,
        catalog: ItemCatalog | None = CATALOG,
    ) -> None:
        self.half_life_days = half_life_days
        self.min_users = min_users
        self.catalog = catalog
        self.tally = TrendingTally(half_life_days, min_users, catalog)
        self.rows: list[Row] = []

    def add(self, *rows: Row) -> None:
        taken = self.tally.add_row(*rows[0]) if len(rows) == 1 else self.tally.add(*columns(rows))
        assert taken <= len(rows)
        self.rows.extend(rows)

    def remove(self, *rows: Row) -> None:
        """Each row takes back the latest-added equal row, as the tally does."""
        if len(rows) == 1:
            self.tally.remove_row(*rows[0])
        else:
            self.tally.remove(*columns(rows))
        for row in rows:
            del self.rows[max(at for at, held in enumerate(self.rows) if held == row)]

    def fit(self, now: float) -> FeedbackTrending:
        return refit(
            self.rows,
            now,
            half_life_days=self.half_life_days,
            min_users=self.min_users,
            catalog=self.catalog,
        )

    def check(self, now: float, genres: Sequence[str | None] = GENRES) -> FeedbackTrending:
        fit = self.fit(now)
        self.tally.advance(now)
        for k in KS:
            for guild in GUILDS:
                for genre in genres:
                    assert_same(
                        self.tally.top(k, guild=guild, genre=genre),
                        fit.top(k, guild=guild, genre=genre),
                    )
        assert self.tally.servers == fit.servers
        return fit


# --- random streams ---------------------------------------------------------------------------


def a_row(draw: st.DrawFn, now: int, exact: bool) -> Row:
    if exact:
        # Whole days and a one-day half-life: every decay is a power of two and every sum
        # exact, so equal opinions tie in the fit too and the tie order is checked.
        weight = draw(st.sampled_from([1.0, 2.0, -1.5, 0.5, -0.5, 1.5]))
        time = now + DAY * draw(st.integers(-9, 1))
    else:
        weight = draw(st.sampled_from([LIKE, LOVE, SKIP, DISLIKE, 0.7, -1.1, 1.9]))
        time = now + draw(st.integers(-7 * DAY, DAY // 2))
    member = draw(st.sampled_from(MEMBERS))
    return member, draw(st.sampled_from(TRACKS)), draw(st.sampled_from(PLACES)), weight, time


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), exact=st.booleans(), min_users=st.integers(1, 3))
def test_the_tally_equals_a_refit_on_the_rows_alive(
    data: st.DataObject, exact: bool, min_users: int
) -> None:
    # Half-lives of a day or less: the window (8 half-lives) is crossed within a stream.
    mirror = Mirror(1.0 if exact else 0.75, min_users)
    now = NOW
    for _ in range(data.draw(st.integers(1, 14), label="steps")):
        action = data.draw(st.sampled_from(["add", "add", "add", "remove", "query"]))
        if action == "add":
            count = data.draw(st.integers(1, 6))
            mirror.add(*[a_row(data.draw, now, exact) for _ in range(count)])
        elif action == "remove" and mirror.rows:
            mirror.remove(data.draw(st.sampled_from(mirror.rows)))
        else:
            step = DAY * data.draw(st.integers(0, 3)) if exact else data.draw(st.integers(0, DAY))
            now += step
            mirror.check(now)
    mirror.check(now + (DAY if exact else 3 * DAY // 2))


@pytest.mark.parametrize("seed", range(3))
def test_a_long_stream_without_a_catalog_moves_its_reference_time(seed: int) -> None:
    # 0.5-day half-lives over ~90 days: the reference time moves (REBASE_HALF_LIVES) twice.
    rng = random.Random(seed)
    mirror = Mirror(0.5, 2, catalog=None)
    tracks = [f"t{n}" for n in range(30)]
    now = NOW
    for step in range(1500):
        if rng.random() < 0.8 or not mirror.rows:
            member, track = rng.choice(MEMBERS), rng.choice(tracks)
            time = now - rng.randrange(0, 5 * DAY) + rng.choice([0, 0, 0, 3600])
            mirror.add((member, track, rng.choice(PLACES), rng.choice([LIKE, LOVE, SKIP]), time))
        else:
            mirror.remove(rng.choice(mirror.rows))
        if step % 25 == 24:
            now += rng.randrange(0, 3 * DAY)
            mirror.check(now, genres=[None])
    assert (now - NOW) / (0.5 * DAY) > 2 * REBASE_HALF_LIVES


def test_a_start_up_tally_equals_the_fit_and_one_fed_row_by_row() -> None:
    rng = random.Random(4)
    rows = [
        (
            rng.choice([*MEMBERS, "n1", "n2", "n3"]),
            rng.choice(TRACKS),
            rng.choice(PLACES),
            rng.choice([LIKE, LOVE, SKIP, DISLIKE]),
            NOW - rng.randrange(0, 70 * DAY) + rng.choice([0, DAY]),  # some after now
        )
        for _ in range(3000)
    ]
    users, items, servers, weights, times = columns(rows)
    interactions = Interactions.from_rows(users, items, weights, times)
    started = TrendingTally.from_interactions(interactions, servers, CATALOG, NOW)
    assert started.now == NOW
    fed = Mirror()
    fed.add(*rows)
    fit = fed.check(NOW)
    for k in KS:
        for guild in GUILDS:
            for genre in GENRES:
                assert_same(started.top(k, guild=guild, genre=genre), fit.top(k, guild, genre))
    # Both go on the same from there.
    more = [(f"m{n % 6}", f"x{n % 8}", PLACES[n % 3], LIKE, NOW + n * 3600) for n in range(50)]
    started.add(*columns(more))
    fed.add(*more)
    started.remove(*columns(rows[:200]))
    fed.remove(*rows[:200])
    fed.check(NOW + 2 * DAY)
    assert_same(started.top(25, now=NOW + 2 * DAY), fed.tally.top(25))
    assert started.rows == fed.tally.rows


def test_only_a_new_tally_is_loaded() -> None:
    row = columns([("m1", "x1", "", LIKE, NOW)])
    loaded = TrendingTally(0.5, catalog=CATALOG)
    loaded.load(*row, now=NOW)
    assert loaded.now == NOW
    assert loaded.rows == 1
    queried = TrendingTally(0.5, catalog=CATALOG)
    queried.top(5, now=NOW)  # a query moves a tally to its time
    for tally in (loaded, queried):
        with pytest.raises(ValueError, match="load fills a new tally"):
            tally.load(*row, now=NOW)


def test_start_up_takes_the_newest_row_as_now_like_the_fit() -> None:
    rows = [(f"m{n}", "x1", "", LIKE, NOW - n * DAY) for n in range(4)]
    users, items, _, weights, times = columns(rows)
    tally = TrendingTally.from_interactions(Interactions.from_rows(users, items, weights, times))
    assert tally.now == NOW
    assert_same(tally.top(5), refit(rows, NOW, catalog=None).top(5))
    with pytest.raises(ValueError, match="one entry per interaction"):
        TrendingTally.from_interactions(Interactions.from_rows(users, items), groups=["1"])


def test_sorted_keys_stay_sorted_through_splits_and_removals() -> None:
    rng = random.Random(0)
    keys, model = _SortedKeys(load=4), set()
    for _ in range(3000):
        key = (rng.randrange(60) / 7, rng.randrange(40))
        if key in model and rng.random() < 0.6:
            keys.remove(key)
            model.remove(key)
        elif key not in model:
            keys.add(key)
            model.add(key)
        assert list(keys) == sorted(model)
    assert len(keys) == len(model)
    with pytest.raises(KeyError):
        keys.remove((-1.0, -1))


# --- edge cases -------------------------------------------------------------------------------


def test_an_empty_tally_charts_nothing() -> None:
    tally = TrendingTally(catalog=CATALOG)
    assert tally.top(10) == []
    assert tally.top(10, guild="s1") == []
    assert tally.top(10, genre="pop", now=NOW) == []
    assert tally.servers == []
    assert tally.rows == 0
    assert TrendingTally().top(3, guild="1") == []


def test_one_member_liking_a_track_many_times_is_one_fan() -> None:
    mirror = Mirror()
    mirror.add(*[("m0", "x1", "s1", LIKE, NOW - hour * 3600) for hour in range(50)])
    assert mirror.check(NOW).top(10) == []
    assert mirror.tally.top(10) == []
    one_is_enough = Mirror(min_users=1)
    one_is_enough.add(*mirror.rows)
    one_is_enough.check(NOW)
    assert [(e.item, e.score) for e in one_is_enough.tally.top(10)] == [("x1", 1.0)]


def test_a_like_then_a_dislike_from_the_same_member_nets_out() -> None:
    mirror = Mirror()
    fans = [("m1", "x1", "s1", LIKE, NOW), ("m2", "x1", "s1", LIKE, NOW)]
    mirror.add(("m0", "x1", "s1", LIKE, NOW - DAY), ("m0", "x1", "s1", DISLIKE, NOW), *fans)
    mirror.check(NOW)
    assert mirror.tally.top(10) == []  # m0 is no longer a fan: 1 * 2**(-1/7) - 1.5 < 0
    mirror.remove(("m0", "x1", "s1", DISLIKE, NOW))
    mirror.check(NOW)
    assert [entry.chart for entry in mirror.tally.top(10, guild="s1")] == [SERVER_CHART]


def test_taking_back_the_only_positive_row_unmakes_a_fan() -> None:
    mirror = Mirror()
    mirror.add(*[(member, "x2", "s2", LOVE, NOW - DAY) for member in ("m0", "m1", "m2")])
    mirror.add(("m2", "x2", "s2", SKIP, NOW))
    mirror.check(NOW)
    assert mirror.tally.top(1)[0].reason.startswith("trending across Earworm: 3 listeners")
    mirror.remove(("m2", "x2", "s2", LOVE, NOW - DAY))  # m2's skip is all that is left
    mirror.check(NOW)
    assert mirror.tally.top(10) == []
    assert mirror.tally.remove(*columns([("m2", "x2", "s2", LOVE, NOW - DAY)])) == 0


def test_rows_exactly_at_the_edge_of_the_window_count_and_then_leave() -> None:
    mirror = Mirror()  # 7-day half-life: the window is 56 days
    edge = NOW - 56 * DAY
    mirror.add(("m0", "x0", "", LOVE, edge), ("m0", "x5", "", LIKE, edge - 1))
    mirror.check(NOW)
    # Rows arriving once the tally stands at NOW: the edge is taken, a second older is not.
    mirror.add(*[(member, "x0", "", LOVE, edge) for member in ("m1", "m2")])
    mirror.add(*[(member, "x5", "", LIKE, edge - 1) for member in ("m1", "m2")])
    mirror.check(NOW)
    assert [entry.item for entry in mirror.tally.top(10)] == ["x0"]
    assert mirror.tally.top(1)[0].score == pytest.approx(3 * 2 * 0.5**8)
    mirror.check(NOW + 1)
    assert mirror.tally.top(10) == []
    assert mirror.tally.rows == 0  # forgotten, not just hidden
    # A row already out of the window when it arrives is not kept either.
    assert mirror.tally.add(*columns([("m0", "x0", "", LIKE, edge)])) == 0


def test_a_server_without_a_chart_gets_earworms_and_hears_why() -> None:
    mirror = Mirror()
    mirror.add(*[(member, "x1", "s1", LIKE, NOW) for member in ("m0", "m1", "m2")])
    mirror.add(("m3", "x1", "s2", LIKE, NOW), ("m4", "x3", "s2", LOVE, NOW))
    mirror.check(NOW)
    quiet = mirror.tally.top(5, guild="s2")
    assert [(entry.item, entry.chart) for entry in quiet] == [("x1", EARWORM_CHART)]
    assert quiet[0].reason == (
        f"trending across Earworm: 4 listeners liked it recently ({LONELY_SERVER_NOTE})"
    )
    assert mirror.tally.servers == ["s1"]


def test_an_unknown_genre_is_refused_as_the_fit_refuses_it() -> None:
    mirror = Mirror()
    mirror.add(*[(member, "x1", "", LIKE, NOW) for member in ("m0", "m1", "m2")])
    fit = mirror.check(NOW)
    for genre in ("rok", "zzzzzz", "hiphop music"):
        with pytest.raises(UnknownGenreError) as expected:
            fit.top(5, genre=genre)
        with pytest.raises(UnknownGenreError) as got:
            mirror.tally.top(5, genre=genre)
        assert str(got.value) == str(expected.value)
        assert (got.value.suggestions, got.value.close) == (
            expected.value.suggestions,
            expected.value.close,
        )
    with pytest.raises(UnknownGenreError, match="no genres are known"):
        TrendingTally().top(5, genre="pop")


def test_ties_break_as_the_fit_breaks_them() -> None:
    # Three tracks with the same opinions: the fit lists them in the order their oldest
    # live rows came; taking back x3's first row sends it behind the others.
    mirror = Mirror()
    for track in ("x3", "x1", "x2"):
        mirror.add(("m0", track, "s1", LIKE, NOW))
    for track in ("x1", "x2", "x3"):
        mirror.add(*[(member, track, "s1", LIKE, NOW) for member in ("m1", "m2")])
    mirror.add(("m0", "x3", "s1", LIKE, NOW))  # a second like from m0: still one fan
    mirror.check(NOW)
    assert [entry.item for entry in mirror.tally.top(3, guild="s1")] == ["x3", "x1", "x2"]
    mirror.remove(("m0", "x3", "s1", LIKE, NOW))  # the latest equal row: order unchanged
    mirror.check(NOW)
    assert [entry.item for entry in mirror.tally.top(3)] == ["x3", "x1", "x2"]
    mirror.add(("m0", "x3", "s1", LIKE, NOW))
    mirror.remove(("m0", "x3", "s1", LIKE, NOW), ("m0", "x3", "s1", LIKE, NOW))
    mirror.add(("m0", "x3", "s1", LIKE, NOW))
    mirror.check(NOW)
    assert [entry.item for entry in mirror.tally.top(3)] == ["x1", "x2", "x3"]


def test_rows_stamped_after_now_count_as_now_like_the_fit() -> None:
    mirror = Mirror()
    mirror.add(*[(member, "x4", "s1", LIKE, NOW + 3 * DAY) for member in ("m0", "m1", "m2")])
    mirror.add(*[(member, "x0", "s1", LOVE, NOW - 7 * DAY) for member in ("m0", "m1", "m2")])
    mirror.check(NOW)
    assert [(e.item, e.score) for e in mirror.tally.top(5)] == [("x4", 3.0), ("x0", 3.0)]
    mirror.check(NOW + 2 * DAY)
    mirror.check(NOW + 4 * DAY)
    mirror.remove(("m0", "x4", "s1", LIKE, NOW + 3 * DAY))
    mirror.check(NOW + 4 * DAY)


def test_time_does_not_go_back() -> None:
    mirror = Mirror()
    mirror.add(*[(member, "x6", "", LIKE, NOW - 50 * DAY) for member in ("m0", "m1", "m2")])
    mirror.add(*[(member, "x5", "", LIKE, NOW) for member in ("m0", "m1", "m2")])
    mirror.check(NOW + 10 * DAY)
    later = mirror.tally.top(10)
    assert mirror.tally.top(10, now=NOW) == later  # x6 has left the window for good
    assert mirror.tally.now == NOW + 10 * DAY
    assert [entry.item for entry in later] == ["x5"]


def test_the_trending_command_takes_a_tally_for_a_fit() -> None:
    mirror = Mirror()
    mirror.add(*[(member, "x1", "s1", LIKE, NOW - DAY) for member in ("m0", "m1", "m2")])
    mirror.add(*[(member, "x2", "s2", LOVE, NOW) for member in ("m3", "m4", "m5")])
    fit = mirror.check(NOW)
    catalog_chart = CatalogTrending().fit(Interactions.from_rows([], []), CATALOG)
    for guild in ("s1", "s2", "nowhere", None):
        for genre in (None, "Pop", "hip-hop"):
            assert trending_chart(
                6, catalog_chart, mirror.tally, guild=guild, genre=genre
            ) == trending_chart(6, catalog_chart, fit, guild=guild, genre=genre)
    with pytest.raises(UnknownGenreError, match="did you mean 'rock'"):
        trending_chart(3, catalog_chart, mirror.tally, genre="rokc")


def test_the_tally_checks_what_it_is_given() -> None:
    with pytest.raises(ValueError, match="half_life_days"):
        TrendingTally(half_life_days=0)
    with pytest.raises(ValueError, match="min_users"):
        TrendingTally(min_users=0)
    tally = TrendingTally()
    with pytest.raises(ValueError, match="same length"):
        tally.add(["m0"], ["x1"], [""], [LIKE], [NOW, NOW])
    with pytest.raises(ValueError, match="finite"):
        tally.add(["m0"], ["x1"], [""], [float("nan")], [NOW])
    with pytest.raises(ValueError, match="finite"):
        tally.add_row("m0", "x1", "", LIKE, float("inf"))
    with pytest.raises(ValueError, match="finite"):
        tally.advance(float("inf"))
    assert tally.rows == 0
    assert tally.remove(["m0"], ["x1"], [""], [LIKE], [NOW]) == 0
    assert tally.add_row("m0", "x1", "", LIKE, NOW)
    assert not tally.remove_row("m0", "x1", "", LOVE, NOW)  # not what was added
    assert tally.remove_row("m0", "x1", "", LIKE, NOW)
    assert tally.rows == 0
    with_catalog = TrendingTally(catalog=CATALOG)
    assert not with_catalog.add_row("m0", "zz", "", LIKE, NOW)  # not in the catalog


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_member_taken_back_whole_leaves_the_chart_of_everyone_else(seed: int) -> None:
    """remove_member (a member's feedback read again, or /forget-me) equals a fit on the
    other members' rows, with their rows then added back as new."""
    rng = random.Random(seed)
    rows: list[Row] = [
        (
            rng.choice(MEMBERS),
            rng.choice(TRACKS),
            rng.choice(PLACES),
            rng.choice((LIKE, LOVE, SKIP, DISLIKE)),
            NOW - rng.randrange(0, 40 * 86_400),
        )
        for _ in range(120)
    ]
    tally = TrendingTally(catalog=CATALOG)
    tally.add(*columns(rows))
    gone = rng.choice(MEMBERS)
    held = sum(1 for row in rows if row[0] == gone and row[1] != "zz")
    assert tally.remove_member(gone) == held
    assert tally.remove_member(gone) == 0  # nothing left of them
    rest = [row for row in rows if row[0] != gone]
    for guild in GUILDS:
        assert_same(tally.top(25, guild=guild, now=NOW), refit(rest, NOW).top(25, guild=guild))
    mine = [row for row in rows if row[0] == gone]
    tally.add(*columns(mine))
    again = rest + mine  # taken back, then read again: added after everyone else
    for genre in GENRES:
        assert_same(tally.top(25, genre=genre, now=NOW), refit(again, NOW).top(25, genre=genre))

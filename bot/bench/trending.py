"""`earworm bench trending` (bot/cli/bench/trending.py): the latency of one trending query
with the charts loaded.

Two catalogs:
- real: every track of the shared spotify_catalog folder, parsed as the importer parses it;
- scaled: the real one SCALE times over. Copy c (2..SCALE) of each track gets a new
  Spotify-style id (bot.bench.copy_id), the same title, genres and popularity, and its
  artists renamed "Queen #c". So the scaled catalog has SCALE times the tracks, the
  artists and the songs; had the copies kept their artists they would be versions of one
  song, and the chart would collapse them back to the real catalog's size.

On each, a synthetic feedback stream (default 100,000 events from 2,000 members over the 28
days before a fixed `now`): every member belongs to one of 50 servers (sizes falling off as
1/rank), 15 % of events are DMs, tracks are drawn with probability ∝ (popularity + 1)², and
kinds are 55 % like, 10 % love, 25 % skip, 10 % dislike.

Both charts are fitted, saved and loaded back (the bot serves a loaded artifact); then each
query kind runs WARMUP untimed and `--queries` timed times, one call at a time, with seeded
random genres and servers. p50/p99 are nearest-rank percentiles.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from bot.bench.catalog import SourceTrack
    from recommender.base import Recommender
    from recommender.data import Interactions, ItemCatalog

SCALE = 10
WARMUP = 100
K = 10
FEEDBACK_DAYS = 28
SERVERS = 50
DM_SHARE = 0.15
KIND_SHARES = {"like": 0.55, "love": 0.10, "skip": 0.25, "dislike": 0.10}
NOW = 1_767_225_600  # 2026-01-01 UTC: a fixed clock keeps runs comparable
FIRST_SNOWFLAKE = 100_000_000_000_000_000

M = TypeVar("M", bound="Recommender")


# --- the catalogs and the feedback ------------------------------------------------------------


def scale_up(real: Sequence[SourceTrack], factor: int) -> list[SourceTrack]:
    """`real` and factor-1 copies of it with new ids and artists (see the module docstring)."""
    from dataclasses import replace

    from bot.bench.catalog import copy_id

    scaled = list(real)
    for copy in range(2, factor + 1):
        scaled.extend(
            replace(
                track,
                id=copy_id(track.id, copy),
                artists=tuple(f"{artist} #{copy}" for artist in track.artists),
            )
            for track in real
        )
    return scaled


def item_catalog(tracks: Sequence[SourceTrack]) -> ItemCatalog:
    """The columns the trending charts read; audio features are left out (they use none)."""
    import numpy as np

    from recommender.data import ItemCatalog

    return ItemCatalog(
        ids=np.asarray([track.id for track in tracks], dtype=np.str_),
        names=[track.name for track in tracks],
        artists=[track.artists for track in tracks],
        genres=[track.genres for track in tracks],
        popularity=np.asarray(
            [np.nan if track.popularity is None else track.popularity for track in tracks],
            dtype=float,
        ),
        features=np.zeros((len(tracks), 0)),
        feature_names=(),
    )


@dataclass(frozen=True, slots=True)
class SyntheticFeedback:
    interactions: Interactions
    servers: npt.NDArray[np.str_]  # per event; "" for a DM
    server_ids: list[str]


def synthetic_feedback(
    catalog: ItemCatalog, events: int, members: int, seed: int
) -> SyntheticFeedback:
    """The stream described in the module docstring, the same for a seed."""
    import numpy as np

    from recommender.data import Interactions
    from recommender.feedback import FEEDBACK_WEIGHTS

    rng = np.random.default_rng(seed)
    server_ids = [str(FIRST_SNOWFLAKE + 1_000_000 + n) for n in range(SERVERS)]
    server_sizes = 1 / np.arange(1, SERVERS + 1)
    home = rng.choice(SERVERS, size=members, p=server_sizes / server_sizes.sum())
    users = rng.integers(0, members, size=events)
    in_dm = rng.random(events) < DM_SHARE
    servers = np.where(in_dm, "", np.asarray(server_ids)[home[users]])
    appeal = (np.nan_to_num(catalog.popularity, nan=0.0) + 1) ** 2
    items = rng.choice(len(catalog), size=events, p=appeal / appeal.sum())
    kinds = rng.choice(list(KIND_SHARES), size=events, p=list(KIND_SHARES.values()))
    ages = rng.uniform(0, FEEDBACK_DAYS * 86_400, size=events)
    interactions = Interactions(
        users=np.asarray([str(FIRST_SNOWFLAKE + user) for user in users], dtype=np.str_),
        items=catalog.ids[items],
        weights=np.asarray([FEEDBACK_WEIGHTS[kind] for kind in kinds], dtype=float),
        timestamps=(NOW - ages).astype(np.int64),
    )
    return SyntheticFeedback(interactions, servers.astype(np.str_), server_ids)


# --- timing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryLatency:
    catalog: str
    tracks: int
    query: str
    queries: int
    p50_us: float
    p99_us: float
    max_us: float
    mean_results: float

    def to_json(self) -> dict[str, object]:
        return {
            "catalog": self.catalog,
            "tracks": self.tracks,
            "query": self.query,
            "queries": self.queries,
            "p50_us": round(self.p50_us, 1),
            "p99_us": round(self.p99_us, 1),
            "max_us": round(self.max_us, 1),
            "mean_results": round(self.mean_results, 2),
        }


def time_query(
    label: tuple[str, int, str], query: Callable[[int], Sequence[object]], queries: int
) -> QueryLatency:
    """`query(i)` for i in 0..WARMUP-1 untimed, then `queries` times, each timed alone."""
    from bot.bench.catalog import percentile

    for number in range(WARMUP):
        query(number)
    micros: list[float] = []
    results = 0
    for number in range(WARMUP, WARMUP + queries):
        started = time.perf_counter_ns()
        found = query(number)
        micros.append((time.perf_counter_ns() - started) / 1_000)
        results += len(found)
    catalog, tracks, name = label
    return QueryLatency(
        catalog=catalog,
        tracks=tracks,
        query=name,
        queries=queries,
        p50_us=percentile(micros, 50),
        p99_us=percentile(micros, 99),
        max_us=max(micros),
        mean_results=results / queries,
    )


@dataclass(frozen=True, slots=True)
class CatalogRun:
    """One catalog: its size, the setup costs and each query kind's latency."""

    name: str
    tracks: int
    artists: int
    genres: int
    feedback_events: int
    servers_with_a_chart: int
    earworm_chart_length: int
    fit_seconds: dict[str, float]
    load_seconds: dict[str, float]
    artifact_mib: dict[str, float]
    latencies: list[QueryLatency]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "tracks": self.tracks,
            "artists": self.artists,
            "genres": self.genres,
            "feedback_events": self.feedback_events,
            "servers_with_a_chart": self.servers_with_a_chart,
            "earworm_chart_length": self.earworm_chart_length,
            "fit_seconds": {key: round(value, 3) for key, value in self.fit_seconds.items()},
            "load_seconds": {key: round(value, 3) for key, value in self.load_seconds.items()},
            "artifact_mib": {key: round(value, 2) for key, value in self.artifact_mib.items()},
            "latency": [latency.to_json() for latency in self.latencies],
        }


def _fit_save_load(fit: Callable[[], M], scratch: Path) -> tuple[M, float, float, float]:
    """The model as the bot gets it, loaded from its artifact; fit and load seconds, MiB."""
    started = time.perf_counter()
    model = fit()
    fitted = time.perf_counter() - started
    directory = model.save(scratch / model.kind)
    size = sum(path.stat().st_size for path in directory.iterdir()) / 2**20
    started = time.perf_counter()
    loaded = type(model).load(directory)
    return loaded, fitted, time.perf_counter() - started, size


def bench_catalog(
    name: str, tracks: Sequence[SourceTrack], events: int, members: int, queries: int, seed: int
) -> CatalogRun:
    import random

    from recommender.trending import CatalogTrending, FeedbackTrending, trending_chart

    catalog = item_catalog(tracks)
    stream = synthetic_feedback(catalog, events, members, seed)
    with tempfile.TemporaryDirectory(prefix="earworm-trending-bench-") as scratch:
        charts, fit_catalog, load_catalog, catalog_mib = _fit_save_load(
            lambda: CatalogTrending().fit(stream.interactions, catalog), Path(scratch)
        )
        feedback, fit_feedback, load_feedback, feedback_mib = _fit_save_load(
            lambda: FeedbackTrending().fit(
                stream.interactions, catalog, groups=stream.servers, now=NOW
            ),
            Path(scratch),
        )
    rng = random.Random(seed)
    total = WARMUP + queries
    genres = [rng.choice(charts.genres) for _ in range(total)]
    servers = [rng.choice(stream.server_ids) for _ in range(total)]
    label = (name, len(catalog))
    cases: list[tuple[str, Callable[[int], Sequence[object]]]] = [
        ("catalog chart", lambda _: charts.top(K)),
        ("catalog chart, genre", lambda n: charts.top(K, genre=genres[n])),
        ("feedback chart, Earworm", lambda _: feedback.top(K)),
        ("feedback chart, server", lambda n: feedback.top(K, guild=servers[n])),
        ("feedback chart, genre", lambda n: feedback.top(K, genre=genres[n])),
        (
            "/trending (server)",
            lambda n: trending_chart(K, charts, feedback, guild=servers[n]),
        ),
        (
            "/trending (server, genre)",
            lambda n: trending_chart(K, charts, feedback, guild=servers[n], genre=genres[n]),
        ),
    ]
    latencies = [time_query((*label, case), query, queries) for case, query in cases]
    return CatalogRun(
        name=name,
        tracks=len(catalog),
        artists=len({track.artists[0] for track in tracks}),
        genres=len(charts.genres),
        feedback_events=len(stream.interactions),
        servers_with_a_chart=len(feedback.servers),
        earworm_chart_length=len(feedback.top(1000)),
        fit_seconds={"catalog": fit_catalog, "feedback": fit_feedback},
        load_seconds={"catalog": load_catalog, "feedback": load_feedback},
        artifact_mib={"catalog": catalog_mib, "feedback": feedback_mib},
        latencies=latencies,
    )


# --- the report -----------------------------------------------------------------------------


def print_report(command_line: str, runs: Sequence[CatalogRun]) -> None:
    from bot.bench.catalog import machine

    echo = click.echo
    host = machine()
    echo(command_line)
    echo(f"machine: {host['cpu_count']} CPUs, {host['platform']}, Python {host['python']}")
    for run_ in runs:
        echo("")
        echo(
            f"{run_.name}: {run_.tracks:,} tracks, {run_.artists:,} artists, "
            f"{run_.genres} genres; {run_.feedback_events:,} feedback events, "
            f"{run_.servers_with_a_chart} servers with a chart, "
            f"{run_.earworm_chart_length} tracks on Earworm's chart"
        )
        for model in ("catalog", "feedback"):
            echo(
                f"  {model} chart: fit {run_.fit_seconds[model]:.2f} s, "
                f"load {run_.load_seconds[model] * 1000:.0f} ms, "
                f"artifact {run_.artifact_mib[model]:.1f} MiB"
            )
    echo("")
    echo(f"one query, k={K}, model loaded (µs):")
    echo(f"{'catalog':<8} {'query':<26} {'n':>6} {'p50':>9} {'p99':>9} {'max':>9} {'found':>6}")
    for run_ in runs:
        for latency in run_.latencies:
            echo(
                f"{latency.catalog:<8} {latency.query:<26} {latency.queries:>6} "
                f"{latency.p50_us:>9.1f} {latency.p99_us:>9.1f} {latency.max_us:>9.1f} "
                f"{latency.mean_results:>6.1f}"
            )

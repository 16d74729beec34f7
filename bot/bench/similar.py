"""`earworm bench similar`: the figures the content-similarity issue asks for.

- Latency of `similar` (one query at a time, model loaded, k=10, diversity rules applied)
  on the catalog and on a copy ten times its size, in normal and genre mode.
- What K-Means clusters would cost as a search index: recall@10 of searching only the
  clusters nearest the seed, against brute force (the model searches by brute force).
- Genre-precision@10: the share of a seed's 10 similar tracks that share a genre with it,
  with genres left out of the features (the model) and put in as weighted multi-hot
  columns.

The scaled-up catalog keeps every real track and adds copies with new ids, a numbered title
("Halo 3": another song, not another version of Halo), the same artists and genres, and
every continuous feature nudged by Gaussian noise of 2 % of its spread (clipped to the range
seen), so copies sit near their original without landing on it. Artists get ten times their
tracks, so the per-artist cap has more to skip: the pessimistic side for latency.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bot.bench.catalog import machine, percentile
from recommender.content import ContentSimilarity
from recommender.data import Interactions, ItemCatalog

JITTER = 0.02  # of each feature's standard deviation
CATEGORICAL = ("key", "mode", "time_signature")  # copied as they are
WARMUP_QUERIES = 20
WARMUP_TRACKS = 500
GENRE_WEIGHTS = (1.0, 3.0)
PROBES = (1, 2, 4)
CLI_RUNS = 3
NO_USERS = Interactions.from_rows([], [])


@dataclass(frozen=True, slots=True)
class LatencyStats:
    queries: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, timings_ms: Sequence[float]) -> LatencyStats:
        return cls(
            len(timings_ms),
            percentile(timings_ms, 50),
            percentile(timings_ms, 90),
            percentile(timings_ms, 99),
            max(timings_ms),
        )

    def to_json(self) -> dict[str, float | int]:
        return {
            "queries": self.queries,
            "p50_ms": round(self.p50_ms, 3),
            "p90_ms": round(self.p90_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
        }


# --- the scaled-up catalog ----------------------------------------------------------------


def scale_catalog(catalog: ItemCatalog, factor: int, seed: int = 0) -> ItemCatalog:
    """The catalog plus `factor - 1` jittered copies of every track (see the module doc)."""
    if factor < 1:
        raise ValueError("the scale factor must be at least 1")
    rng = np.random.default_rng(seed)
    features = np.asarray(catalog.features, dtype=np.float64)
    continuous = np.asarray([name not in CATEGORICAL for name in catalog.feature_names])
    spread = np.nanstd(features, axis=0) if len(catalog) else np.zeros(features.shape[1])
    low, high = (
        (np.nanmin(features, axis=0), np.nanmax(features, axis=0))
        if len(catalog)
        else (spread, spread)
    )
    blocks = [features]
    for _ in range(1, factor):
        noise = rng.normal(0.0, 1.0, features.shape) * spread * JITTER * continuous
        blocks.append(np.clip(features + noise, low, high))
    copies = range(1, factor)
    return ItemCatalog(
        ids=np.asarray(
            [*catalog.ids.tolist(), *(f"{i}~{c}" for c in copies for i in catalog.ids.tolist())]
        ),
        names=[*catalog.names, *(f"{name} {c + 1}" for c in copies for name in catalog.names)],
        artists=catalog.artists * factor,
        genres=catalog.genres * factor,
        popularity=np.tile(catalog.popularity, factor),
        features=np.vstack(blocks),
        feature_names=catalog.feature_names,
    )


# --- measurements -------------------------------------------------------------------------


def query_items(model: ContentSimilarity, count: int, seed: int) -> list[str]:
    """`count` random seed tracks with audio features (and, for genre mode, a genre)."""
    usable = [
        item
        for item in model.item_vocab.ids.tolist()
        if model.has_features(item) and model.genres_of(item)
    ]
    rng = np.random.default_rng(seed)
    return [usable[i] for i in rng.choice(len(usable), min(count, len(usable)), replace=False)]


def time_similar(model: ContentSimilarity, items: Sequence[str], k: int) -> LatencyStats:
    for item in items[:WARMUP_QUERIES]:
        model.similar_items(item, k)
    timings = []
    for item in items:
        started = time.perf_counter()
        model.similar_items(item, k)
        timings.append((time.perf_counter() - started) * 1000)
    return LatencyStats.of(timings)


def _nearest_raw(
    model: ContentSimilarity, anchor: int, candidates: np.ndarray | None, k: int
) -> set[int]:
    """The k most similar candidates (None: every track) by similarity alone, no diversity
    rules: what an index must find."""
    sims = model.similarity(np.asarray([anchor]), candidates)[0]
    ids = np.arange(len(sims)) if candidates is None else candidates
    sims[ids == anchor] = -np.inf
    best = np.argpartition(-sims, k)[:k] if len(sims) > k else np.arange(len(sims))
    return {int(ids[i]) for i in best if np.isfinite(sims[i])}


@dataclass(frozen=True, slots=True)
class ClusterProbe:
    probe: int  # clusters searched (0: brute force over every track)
    scanned: float  # mean share of the catalog compared with the seed
    recall_at_10: float
    latency: LatencyStats

    def to_json(self) -> dict[str, object]:
        return {
            "probe": self.probe,
            "scanned": round(self.scanned, 4),
            "recall_at_10": round(self.recall_at_10, 4),
            **self.latency.to_json(),
        }


def cluster_index(
    model: ContentSimilarity, items: Sequence[str], probes: Sequence[int], k: int = 10
) -> list[ClusterProbe]:
    """Searching only the `probe` clusters whose centres are nearest the seed, against
    searching every track. Members of each cluster are kept contiguous, as an index would."""
    clusters = model.clusters
    labels = clusters.labels
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(clusters.k + 1))
    members = [order[bounds[c] : bounds[c + 1]] for c in range(clusters.k)]
    indexed = int((labels >= 0).sum())
    anchors = model.item_vocab.indices(items)
    truth = {int(a): _nearest_raw(model, int(a), None, k) for a in anchors}
    results = [_probe_run(model, anchors, indexed, lambda _: None, truth, 0, k)]
    for probe in probes:
        if probe >= clusters.k:
            continue

        def candidates(anchor: int, probe: int = probe) -> np.ndarray:
            distances = np.linalg.norm(clusters.centres - model.vectors[anchor], axis=1)
            return np.concatenate([members[c] for c in np.argsort(distances)[:probe]])

        results.append(_probe_run(model, anchors, indexed, candidates, truth, probe, k))
    return results


def _probe_run(
    model: ContentSimilarity,
    anchors: np.ndarray,
    indexed: int,
    candidates_of: Callable[[int], np.ndarray | None],
    truth: dict[int, set[int]],
    probe: int,
    k: int,
) -> ClusterProbe:
    timings, recalls, scanned = [], [], []
    for anchor in anchors:
        started = time.perf_counter()
        candidates = candidates_of(int(anchor))
        found = _nearest_raw(model, int(anchor), candidates, k)
        timings.append((time.perf_counter() - started) * 1000)
        expected = truth[int(anchor)]
        recalls.append(len(found & expected) / max(1, len(expected)))
        scanned.append(1.0 if candidates is None else len(candidates) / indexed)
    return ClusterProbe(
        probe, float(np.mean(scanned)), float(np.mean(recalls)), LatencyStats.of(timings)
    )


def genre_precision(model: ContentSimilarity, items: Sequence[str], k: int = 10) -> float:
    """Mean share of each seed's k similar tracks that share a genre with it."""
    shares = []
    for item in items:
        genres = set(model.genres_of(item))
        results = model.similar_items(item, k)
        if results:
            shares.append(np.mean([bool(genres & set(model.genres_of(r.item))) for r in results]))
    return float(np.mean(shares)) if shares else 0.0


def cli_seconds(track: str, runs: int = CLI_RUNS) -> float:
    """Median wall time of the whole `earworm similar TRACK --json` process, model cached."""
    command = [sys.executable, "-m", "bot", "similar", track, "--json"]
    subprocess.run(command, capture_output=True, check=True)  # fits and caches if needed
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


# --- the whole run ------------------------------------------------------------------------


def _fitted(catalog: ItemCatalog, seed: int, **tuning: object) -> tuple[ContentSimilarity, float]:
    started = time.perf_counter()
    model = ContentSimilarity(seed=seed, **tuning).fit(NO_USERS, catalog)
    return model, time.perf_counter() - started


def _head(catalog: ItemCatalog, count: int) -> ItemCatalog:
    return ItemCatalog(
        ids=catalog.ids[:count],
        names=catalog.names[:count],
        artists=catalog.artists[:count],
        genres=catalog.genres[:count],
        popularity=catalog.popularity[:count],
        features=catalog.features[:count],
        feature_names=catalog.feature_names,
    )


def _size_run(
    model: ContentSimilarity, fit_s: float, items: Sequence[str], k: int
) -> dict[str, object]:
    return {
        "tracks": len(model.item_vocab),
        "fit_s": round(fit_s, 2),
        "model": model.report,
        "latency": {
            mode: time_similar(model.with_mode(mode), items, k).to_json()
            for mode in ("normal", "genre")
        },
        "cluster_index": [probe.to_json() for probe in cluster_index(model, items, PROBES)],
    }


def run_content_bench(
    catalog: ItemCatalog,
    *,
    queries: int = 1000,
    scale: int = 10,
    seed: int = 0,
    k: int = 10,
    genre_weights: Sequence[float] = GENRE_WEIGHTS,
    cli_track: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, object]:
    """Every figure as JSON-able data; `cli_track` also times the whole command."""
    progress("fitting on the catalog")
    _fitted(_head(catalog, WARMUP_TRACKS), seed)  # imports and first calls stay out of fit_s
    model, fit_s = _fitted(catalog, seed)
    items = query_items(model, queries, seed)
    report: dict[str, object] = {"machine": machine(), "queries": len(items), "k": k}
    progress("timing similar on the catalog")
    report["catalog"] = _size_run(model, fit_s, items, k)

    progress("genre precision")
    precision = {"genre excluded": genre_precision(model, items, k)}
    for weight in genre_weights:
        with_genres, _ = _fitted(catalog, seed, genre_weight=weight)
        precision[f"genre included (weight {weight:g})"] = genre_precision(with_genres, items, k)
    precision["genre mode (filter)"] = genre_precision(model.with_mode("genre"), items, k)
    report["genre_precision_at_10"] = {name: round(value, 4) for name, value in precision.items()}

    if scale > 1:
        progress(f"fitting on the catalog scaled x{scale}")
        scaled, scaled_fit_s = _fitted(scale_catalog(catalog, scale, seed), seed)
        progress(f"timing similar on the catalog scaled x{scale}")
        report["scaled"] = {"factor": scale, **_size_run(scaled, scaled_fit_s, items, k)}
    if cli_track is not None:
        progress("timing the whole command")
        report["cli_seconds"] = round(cli_seconds(cli_track), 3)
    return report

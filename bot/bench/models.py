"""`earworm bench models`: how long ALS and NCF take to train, how much memory they need, and
how fast a loaded model answers `recommend`.

The data is Last.fm HetRec 2K (`user_artists.dat`: 92,834 rows, 1,892 users, 17,632 artists)
from the shared data folder, scaled up:

- Training sizes (100k, 1M, 5M rows): copy 0 is the real data; copy c >= 1 repeats every
  row with the user renamed `<user>~c`, and a seeded 5 % of that copy's rows get another
  artist, drawn popularity-weighted (the artist of a random real row), so copies are not
  identical and the model cannot learn one copy and repeat it. Copies are taken in order
  until the row count is reached; the last one is cut (rows are in user order, so only its
  last user is partial). The item side stays Last.fm's 17,632 artists; users grow with the
  rows (1M rows: about 20,400 users). A swapped row that lands on an artist the user
  already has adds to that pair's weight (about 1 in 350 swaps).
- Latency catalogs (30k, 300k items): copy c also renames the artists, `<artist>~c`, so
  each copy brings 17,632 new items with their own listeners; swapped rows draw their
  artist from any copy, which links the copies. Then the first N distinct items of a
  seeded shuffle are kept, with their rows: exactly N items, each with feedback.

Each training run, and each latency run, is a fresh Python process (`python -m
bot.bench.models` with a JSON task) that reads the prepared rows from an .npz file (the
parent writes it once per size) and reports its own peak resident memory (VmHWM), before
and after the fit. ALS is timed with fixed hyperparameters (no
validation search); NCF fits to its own early-stopping point, with its epochs capped.
Latency: the fitted model is saved and loaded back, then `recommend(user, 10)` is timed
for random known users, one call at a time, after a few warm-up calls.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recommender.data import Interactions

SWAP_SHARE = 0.05
COPY_MARK = "~"
# ALS with every hyperparameter given, so no search: what its search chooses on the real
# Last.fm 2K data (seed 0), the most factors its grid offers.
ALS_FIXED: dict[str, Any] = {
    "factors": 128,
    "regularization": 0.1,
    "iterations": 10,
    "alpha": 2.0,
    "scaling": "bm25",
}
THREADS = 2
MODEL_CLASSES = {"als": ("recommender.als", "ALS"), "ncf": ("recommender.ncf", "NCF")}
WARMUP_CALLS = 20
# How recommend is timed: with the BLAS pool as loaded, and limited to one thread.
BLAS_VARIANTS = {"blas_default": "as loaded", "blas_one_thread": "1"}
# The targets.
ALS_1M_TARGET_S = 15.0
NCF_1M_TARGET_S = 300.0
TARGET_ROWS = 1_000_000
LATENCY_TARGET_ITEMS = 30_000
LATENCY_P99_TARGET_MS = 10.0
_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([km]?)\s*$", re.IGNORECASE)


class BenchError(Exception):
    """The benchmark cannot run; the message says why in one line."""


def parse_count(text: str) -> int:
    """'100k' -> 100_000, '1m' -> 1_000_000, '2.5M' -> 2_500_000, '5000' -> 5000."""
    match = _COUNT.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a count such as 5000, 100k or 1m")
    number = float(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    if number < 1 or number != int(number):
        raise ValueError(f"{text!r} must be a whole number of at least 1")
    return int(number)


def count_label(count: int) -> str:
    """1_000_000 -> '1M', 100_000 -> '100k', 1234 -> '1,234'."""
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count % 1_000 == 0:
        return f"{count // 1_000}k"
    return f"{count:,}"


# --- the scaled data ---------------------------------------------------------------------


def load_lastfm_rows(shared_data: Path) -> Interactions:
    """Last.fm 2K's user_artists rows; BenchError when the shared data is not there."""
    from recommender.evaluation.datasets import DatasetError, load_lastfm

    try:
        return load_lastfm(shared_data).interactions
    except DatasetError as exc:
        raise BenchError(f"Last.fm HetRec 2K not found: {exc}") from None


def _copy(
    base: Interactions, copy: int, rng: np.random.Generator, item_copies: int
) -> Interactions:
    """Copy `copy` of the base rows (module docstring). With `item_copies` > 1 the items are
    renamed per copy too, and swapped rows draw their item from any of the copies."""
    if copy == 0:
        return base
    users = np.char.add(base.users, f"{COPY_MARK}{copy}")
    items = base.items
    if item_copies > 1:
        items = np.char.add(items, f"{COPY_MARK}{copy}")
    swapped = np.flatnonzero(rng.random(len(base)) < SWAP_SHARE)
    drawn = base.items[rng.integers(0, len(base), size=len(swapped))]
    if item_copies > 1:
        namespace = rng.integers(0, item_copies, size=len(swapped))
        marks = np.where(namespace == 0, "", np.char.add(COPY_MARK, namespace.astype(str)))
        drawn = np.char.add(drawn, marks)
    items = items.astype(np.result_type(items, drawn), copy=True)
    items[swapped] = drawn
    return Interactions(users, items, base.weights, base.timestamps)


def _concatenate(parts: Sequence[Interactions]) -> Interactions:
    return Interactions(
        users=np.concatenate([part.users for part in parts]),
        items=np.concatenate([part.items for part in parts]),
        weights=np.concatenate([part.weights for part in parts]),
        timestamps=np.concatenate([part.timestamps for part in parts]),
    )


def scale_rows(base: Interactions, rows: int, seed: int) -> Interactions:
    """Exactly `rows` rows over the base's items and ever more users (module docstring)."""
    if rows < 1 or len(base) == 0:
        raise ValueError("need at least one row to make and one to copy")
    rng = np.random.default_rng(seed)
    copies = math.ceil(rows / len(base))
    scaled = _concatenate([_copy(base, copy, rng, item_copies=1) for copy in range(copies)])
    return scaled.subset(np.arange(len(scaled)) < rows)


def scale_items(base: Interactions, items: int, seed: int) -> Interactions:
    """The rows of exactly `items` distinct items, each with feedback (module docstring)."""
    distinct = len(np.unique(base.items))
    if items < 1 or distinct == 0:
        raise ValueError("need at least one item to make and one to copy")
    rng = np.random.default_rng(seed)
    copies = math.ceil(items / distinct)
    scaled = _concatenate([_copy(base, copy, rng, item_copies=copies) for copy in range(copies)])
    present = np.unique(scaled.items)
    if len(present) < items:  # every swap of a one-listener item's only row lost it
        scaled = _concatenate([scaled, _copy(base, copies, rng, item_copies=copies + 1)])
        present = np.unique(scaled.items)
    kept = present[rng.permutation(len(present))[:items]]
    return scaled.subset(np.isin(scaled.items, kept))


def write_rows(path: Path, rows: Interactions) -> Path:
    np.savez(path, users=rows.users, items=rows.items, weights=rows.weights)
    return path


def read_rows(path: Path) -> Interactions:
    with np.load(path, allow_pickle=False) as data:
        users, items, weights = data["users"], data["items"], data["weights"]
    return Interactions(users, items, weights, np.zeros(len(users), dtype=np.int64))


# --- one run, in a fresh process ----------------------------------------------------------


def build(model: str, seed: int, *, max_epochs: int) -> Any:
    """The benchmarked model: ALS with fixed hyperparameters, NCF with its epochs capped; on
    the CPU with THREADS threads, no progress bars."""
    module, name = MODEL_CLASSES[model]
    cls = getattr(importlib.import_module(module), name)
    if model == "als":
        return cls(seed=seed, threads=THREADS, **ALS_FIXED)
    return cls(seed=seed, epochs=max_epochs, threads=THREADS, device="cpu", progress=False)


def _peak_rss_mib() -> float:
    """This process's peak resident memory so far.

    On Linux, VmHWM: the high-water mark of this program's own memory since it started.
    Not ru_maxrss, which the kernel carries across exec from the process that forked the
    child: a benchmark parent holding 5M rows would be counted in every child's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def epochs_run(model: Any) -> int | None:
    """Epochs NCF trained, over all its stages (pre-training included); None for ALS."""
    training = getattr(model, "training", None)
    if isinstance(training, dict) and isinstance(training.get("epochs_run"), int):
        return int(training["epochs_run"])
    return None


def fit_task(task: dict[str, Any]) -> dict[str, Any]:
    rows = read_rows(Path(task["data"]))
    model = build(task["model"], task["seed"], max_epochs=task["max_epochs"])
    before = _peak_rss_mib()  # the rows and the libraries: what the process holds before fitting
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(rows)
    fit_seconds = time.perf_counter() - started
    return {
        "rows": len(rows),
        "users": len(rows.user_vocab),
        "items": len(rows.item_vocab),
        "fit_seconds": fit_seconds,
        # Every thread's CPU time: what the fit costs, whatever else shares the cores.
        "fit_cpu_seconds": time.process_time() - cpu_started,
        "epochs": epochs_run(model),
        "rss_before_fit_mib": before,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _time_recommend(model: Any, users: Sequence[str]) -> dict[str, float]:
    from bot.bench.catalog import percentile

    for user in users[:WARMUP_CALLS]:
        model.recommend(user, 10)
    timings = []
    for user in users:
        begun = time.perf_counter()
        model.recommend(user, 10)
        timings.append((time.perf_counter() - begun) * 1000)
    return {
        "queries": len(timings),
        "p50_ms": percentile(timings, 50),
        "p99_ms": percentile(timings, 99),
        "max_ms": max(timings),
        "mean_ms": float(np.mean(timings)),
    }


def latency_task(task: dict[str, Any]) -> dict[str, Any]:
    """Fit, save, load, then time recommend twice on the same users: with the BLAS thread
    pool as the libraries set it up, and limited to one thread (numpy's small solves and
    products stall when a pool's threads compete with other work for the cores)."""
    from threadpoolctl import threadpool_limits

    rows = read_rows(Path(task["data"]))
    fitted = build(task["model"], task["seed"], max_epochs=task["max_epochs"])
    started = time.perf_counter()
    fitted.fit(rows)
    fit_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="earworm-model-bench-") as scratch:
        model = type(fitted).load(fitted.save(Path(scratch) / "model"))
    del fitted
    users = rows.user_vocab.ids
    rng = np.random.default_rng(task["seed"])
    chosen = users[rng.choice(len(users), min(task["queries"], len(users)), replace=False)]
    default = _time_recommend(model, chosen.tolist())
    with threadpool_limits(1, "blas"):
        single = _time_recommend(model, chosen.tolist())
    return {
        "items": len(model.item_vocab),
        "users": len(users),
        "rows": len(rows),
        "fit_seconds": fit_seconds,
        "blas_default": default,
        "blas_one_thread": single,
        "peak_rss_mib": _peak_rss_mib(),
    }


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "fit": fit_task,
    "latency": latency_task,
}


def run_in_child(task: dict[str, Any]) -> dict[str, Any]:
    """Run `task` in a fresh `python -m bot.bench.models` process: its result (with the
    child's own peak RSS) and its wall seconds."""
    from bot.bench.catalog import ChildFailed, run_child

    try:
        child = run_child([sys.executable, "-m", "bot.bench.models", json.dumps(task)])
    except ChildFailed as exc:
        raise BenchError(f"{task['model']} {task['task']} run {exc}") from None
    result: dict[str, Any] = json.loads(child.stdout)
    wall = child.wall_seconds
    return {**result, "wall_seconds": wall}


# --- the whole benchmark ------------------------------------------------------------------


@dataclass(frozen=True)
class BenchOptions:
    sizes: tuple[int, ...]
    models: tuple[str, ...]
    latency_items: tuple[int, ...]
    queries: int = 1_000
    max_epochs: int = 20
    latency_epochs: int = 1
    seed: int = 0


def run_model_bench(
    options: BenchOptions, shared_data: Path, progress: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Every figure as JSON-able data (see the module docstring)."""
    from bot.bench.catalog import machine

    load_at_start = os.getloadavg()
    base = load_lastfm_rows(shared_data)
    training: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="earworm-model-bench-") as scratch:
        for size in options.sizes:
            progress(f"preparing {count_label(size)} rows")
            data = write_rows(
                Path(scratch) / f"rows_{size}.npz", scale_rows(base, size, options.seed)
            )
            for model in options.models:
                progress(f"{model}: training on {count_label(size)} rows")
                task = {
                    "task": "fit",
                    "model": model,
                    "data": str(data),
                    "seed": options.seed,
                    "max_epochs": options.max_epochs,
                }
                training.append({"model": model, "size": size, **run_in_child(task)})
            data.unlink()
        for items in options.latency_items:
            progress(f"preparing a catalog of {count_label(items)} items")
            data = write_rows(
                Path(scratch) / f"items_{items}.npz", scale_items(base, items, options.seed)
            )
            for model in options.models:
                progress(f"{model}: recommend latency at {count_label(items)} items")
                task = {
                    "task": "latency",
                    "model": model,
                    "data": str(data),
                    "seed": options.seed,
                    "max_epochs": options.latency_epochs,
                    "queries": options.queries,
                }
                latency.append({"model": model, "catalog_items": items, **run_in_child(task)})
            data.unlink()
    return {
        # Load averages (1, 5, 15 minutes) when the run started and ended: other work on the
        # cores stretches the wall times.
        "machine": {**machine(), "load_at_start": load_at_start, "load_at_end": os.getloadavg()},
        "options": {
            "sizes": list(options.sizes),
            "models": list(options.models),
            "latency_items": list(options.latency_items),
            "queries": options.queries,
            "ncf_max_epochs": options.max_epochs,
            "ncf_latency_epochs": options.latency_epochs,
            "seed": options.seed,
            "threads": THREADS,
            "als_hyperparameters": ALS_FIXED,
            "swap_share": SWAP_SHARE,
        },
        "training": [_rounded(row) for row in training],
        "latency": [_rounded(row) for row in latency],
        "targets": targets(training, latency),
    }


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: round(value, 3) if isinstance(value, float) else value for key, value in row.items()
    }


def targets(training: list[dict[str, Any]], latency: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets that this run measured, each with its verdict."""
    verdicts = []
    limits = {"als": ALS_1M_TARGET_S, "ncf": NCF_1M_TARGET_S}
    for row in training:
        if row["size"] == TARGET_ROWS:
            limit = limits[row["model"]]
            verdicts.append(
                {
                    "target": f"{row['model']} trains on 1M rows in < {limit:.0f} s",
                    "measured": round(row["fit_seconds"], 2),
                    "met": row["fit_seconds"] < limit,
                }
            )
    for row in latency:
        if row["catalog_items"] == LATENCY_TARGET_ITEMS:
            for variant, label in BLAS_VARIANTS.items():
                p99 = row[variant]["p99_ms"]
                verdicts.append(
                    {
                        "target": f"{row['model']} recommend p99 < {LATENCY_P99_TARGET_MS:.0f} ms "
                        f"at 30k items (BLAS {label})",
                        "measured": round(p99, 3),
                        "met": p99 < LATENCY_P99_TARGET_MS,
                    }
                )
    return verdicts


def _load(averages: Sequence[float]) -> str:
    return "/".join(f"{value:.1f}" for value in averages)


def format_report(report: dict[str, Any], command: str) -> list[str]:
    """The table the command prints."""
    host = report["machine"]
    lines = [
        command,
        f"machine: {host['cpu_count']} CPUs, {host['platform']}, Python {host['python']}; "
        f"load average {_load(host['load_at_start'])} at the start, "
        f"{_load(host['load_at_end'])} at the end",
        f"ALS fixed hyperparameters: {report['options']['als_hyperparameters']}; "
        f"NCF epochs capped at {report['options']['ncf_max_epochs']}; {THREADS} threads",
        "",
        "training (fresh process each):",
        f"{'model':<6} {'rows':>7} {'users':>8} {'items':>7} {'fit s':>9} {'CPU s':>9} "
        f"{'epochs':>6} {'RSS before MiB':>14} {'peak MiB':>9}",
    ]
    for row in report["training"]:
        epochs = "-" if row["epochs"] is None else str(row["epochs"])
        lines.append(
            f"{row['model']:<6} {count_label(row['size']):>7} {row['users']:>8,} "
            f"{row['items']:>7,} {row['fit_seconds']:>9.2f} {row['fit_cpu_seconds']:>9.2f} "
            f"{epochs:>6} "
            f"{row['rss_before_fit_mib']:>14.0f} {row['peak_rss_mib']:>9.0f}"
        )
    if report["latency"]:
        lines += [
            "",
            "recommend(user, 10), model loaded, one call at a time (ms):",
            f"{'model':<6} {'items':>7} {'users':>8} {'BLAS threads':<13} {'n':>5} {'p50':>8} "
            f"{'p99':>8} {'max':>8}",
        ]
        for row in report["latency"]:
            for variant, label in BLAS_VARIANTS.items():
                stats = row[variant]
                lines.append(
                    f"{row['model']:<6} {count_label(row['catalog_items']):>7} "
                    f"{row['users']:>8,} {label:<13} {stats['queries']:>5} "
                    f"{stats['p50_ms']:>8.3f} {stats['p99_ms']:>8.3f} {stats['max_ms']:>8.3f}"
                )
    if report["targets"]:
        lines.append("")
        for verdict in report["targets"]:
            state = "met" if verdict["met"] else "MISSED"
            lines.append(f"target: {verdict['target']}: {verdict['measured']} ({state})")
    return lines


def main(argv: Sequence[str]) -> None:
    """The child process: run one JSON task and print its result as JSON."""
    task = json.loads(argv[0])
    print(json.dumps(TASKS[task["task"]](task)))


if __name__ == "__main__":
    main(sys.argv[1:])

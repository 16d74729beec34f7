"""`earworm eval`: offline evaluation of the recommenders on a dataset or CSV files.

The numbers and the exact commands behind docs/benchmarks.md come from here. Heavy
libraries (numpy, pandas, the models, matplotlib) load inside the command, so
`earworm --help` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from bot.cli.common import fail, print_json, settings_of

if TYPE_CHECKING:
    from recommender.evaluation.datasets import EvaluationDataset
    from recommender.evaluation.runner import EvaluationData, EvaluationReport, SeedResult
    from recommender.evaluation.splits import Order, Scheme, SplitProtocol

DATASETS = ("lastfm-hetrec2k", "spotify-playlists")
MAX_SEEDS = 100
TIES = (
    "pessimistic: rank = 1 + irrelevant candidates scoring >= the item "
    "+ relevant items ranked before it; -inf or unknown items never rank"
)


def parse_seeds(text: str) -> list[int]:
    """Seeds written as 0,1,2 or 0-4 (or a mix of both); each seed once."""
    seeds: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            fail(f"--seeds {text!r}: expected non-negative integers such as 0,1,2 or 0-4")
        span = range(int(low), int(high) + 1) if dash else [int(low)]
        if not span:
            fail(f"--seeds {text!r}: the range {part} is empty")
        seeds.extend(span)
    if len(set(seeds)) != len(seeds):
        fail(f"--seeds {text!r}: a seed is given twice")
    if len(seeds) > MAX_SEEDS:
        fail(f"--seeds {text!r}: at most {MAX_SEEDS} seeds")
    return seeds


def parse_models(text: str) -> list[str]:
    from recommender.evaluation.models import MODELS

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        fail("--models is empty; choose from " + ", ".join(MODELS))
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        fail(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    if len(set(names)) != len(names):
        fail(f"--models {text!r}: a model is given twice")
    return names


def validate_k(k: int) -> int:
    from recommender.base import MAX_K

    if k < 1:
        fail(f"--k must be at least 1, got {k}")
    if k > MAX_K:
        fail(f"--k {k} is too large: at most {MAX_K}")
    return k


def check_models_can_run(names: list[str], seed: int, dataset: EvaluationDataset) -> None:
    from recommender.evaluation.models import ModelUnavailable, build_model, model_spec

    catalog = dataset.catalog
    has_features = catalog is not None and catalog.features.shape[1] > 0
    for name in names:
        if model_spec(name).needs_audio_features and not has_features:
            fail(
                f"model {name!r} needs the catalog's audio features; "
                "only --dataset spotify-playlists has them"
            )
        try:
            build_model(name, seed)
        except ModelUnavailable as exc:
            fail(str(exc))


def check_plot_backend(plot: Path | None) -> None:
    if plot is None:
        return
    try:
        import matplotlib
    except ImportError:
        fail("--plot needs matplotlib; install it with: pip install matplotlib")
    matplotlib.use("Agg")


def format_table(report: EvaluationReport) -> str:
    results = report.results()
    models = list(results)
    metric_names = list(next(iter(results.values()))) if results else []
    width = max([len(name) for name in metric_names] + [6])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{model:>17}" for model in models)]
    for metric in metric_names:
        cells = []
        for model in models:
            value = results[model][metric]
            mean, std = value["mean"], value["std"]
            cell = "n/a" if mean is None else f"{mean:.4f} ± {std or 0.0:.4f}"
            cells.append(f"{cell:>17}")
        lines.append(f"{metric:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def write_plot(report: EvaluationReport, path: Path, title: str) -> None:
    import logging
    import textwrap

    import matplotlib.pyplot as plt
    import numpy as np

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # font-cache chatter

    results = report.results()
    models = list(results)
    metric_names = list(next(iter(results.values())))
    positions = np.arange(len(metric_names))
    width = 0.8 / max(len(models), 1)
    figure, axes = plt.subplots(figsize=(max(8, 1.2 * len(metric_names)), 4.5))
    for offset, model in enumerate(models):
        means = [results[model][m]["mean"] or 0.0 for m in metric_names]
        stds = [results[model][m]["std"] or 0.0 for m in metric_names]
        axes.bar(positions + offset * width, means, width, yerr=stds, capsize=3, label=model)
    axes.set_xticks(positions + width * (len(models) - 1) / 2, metric_names, rotation=30)
    axes.set_ylabel("mean over seeds (error bar: std)")
    axes.set_title(textwrap.fill(title, 100), fontsize=9)
    axes.legend()
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as exc:
        fail(f"cannot write the plot to {path}: {exc.strerror or exc}")
    finally:
        plt.close(figure)


def write_json(document: dict[str, Any], path: Path) -> None:
    if str(path) == "-":
        print_json(document)
        return
    try:
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        fail(f"cannot write the JSON report to {path}: {exc.strerror or exc}")


@click.command("eval")
@click.option("--dataset", type=click.Choice(DATASETS), help="A built-in dataset.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Where the built-in datasets live (default: EARWORM_SHARED_DATA, ../shared/data).",
)
@click.option(
    "--train",
    "train_csv",
    type=click.Path(path_type=Path),
    help="Training rows: CSV with user,item[,weight][,timestamp].",
)
@click.option(
    "--test",
    "test_csv",
    type=click.Path(path_type=Path),
    help="Held-out rows, same columns; needs --train.",
)
@click.option(
    "--negatives",
    "negatives_csv",
    type=click.Path(path_type=Path),
    help="user,item rows: rank each test user's items only against these "
    "(sampled protocol; with --train/--test).",
)
@click.option(
    "--protocol",
    type=click.Choice(["leave-one-out", "holdout"]),
    default="leave-one-out",
    show_default=True,
    help="How --dataset is split.",
)
@click.option(
    "--order",
    type=click.Choice(["random", "latest"]),
    default="random",
    show_default=True,
    help="Hold out random items (by seed) or the latest ones.",
)
@click.option(
    "--fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of each user's items held out by --protocol holdout.",
)
@click.option(
    "--min-interactions",
    type=int,
    default=2,
    show_default=True,
    help="Test only users with at least this many items (the others still train).",
)
@click.option(
    "--sampled",
    type=int,
    default=None,
    help="Rank against N sampled unseen items per user instead of all items (with --dataset).",
)
@click.option(
    "--catalog-genres",
    type=click.Choice(["train", "all"]),
    default="train",
    show_default=True,
    help="spotify-playlists: track genres the models see, from training playlists only "
    "(no held-out playlist's genre on its own track) or from every playlist.",
)
@click.option("--k", type=int, default=10, show_default=True, help="List length for @k metrics.")
@click.option(
    "--models",
    default="pop,itemknn",
    show_default=True,
    help="Comma-separated: pop, itemknn, content, content-genre.",
)
@click.option("--seeds", default="0", show_default=True, help="E.g. 0,1,2 or 0-4.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    help="Write the results as JSON to this file ('-': standard output).",
)
@click.option("--plot", type=click.Path(path_type=Path), help="Write a bar chart (PNG).")
@click.pass_context
def command(
    ctx: click.Context,
    dataset: str | None,
    data_dir: Path | None,
    train_csv: Path | None,
    test_csv: Path | None,
    negatives_csv: Path | None,
    protocol: str,
    order: str,
    fraction: float,
    min_interactions: int,
    sampled: int | None,
    catalog_genres: str,
    k: int,
    models: str,
    seeds: str,
    json_path: Path | None,
    plot: Path | None,
) -> None:
    """Evaluate recommenders offline: full ranking, pessimistic ties, mean ± std over seeds."""
    if (dataset is None) == (train_csv is None and test_csv is None):
        fail("give either --dataset NAME or --train TRAIN.csv --test TEST.csv")
    if dataset is None and (train_csv is None or test_csv is None):
        fail("--train and --test go together")
    if negatives_csv is not None and dataset is not None:
        fail("--negatives is for --train/--test; with --dataset use --sampled N")
    if sampled is not None and dataset is None:
        fail("--sampled is for --dataset; with --train/--test give --negatives NEG.csv")
    if sampled is not None and sampled < 1:
        fail(f"--sampled must be at least 1, got {sampled}")
    if not 0 < fraction < 1:
        fail(f"--fraction must be between 0 and 1, got {fraction}")
    if min_interactions < 1:
        fail(f"--min-interactions must be at least 1, got {min_interactions}")
    k = validate_k(k)
    seed_list = parse_seeds(seeds)
    model_names = parse_models(models)
    check_plot_backend(plot)
    for output in (json_path, plot):
        if output is not None and str(output) != "-" and not output.parent.is_dir():
            fail(f"cannot write {output}: no folder {output.parent}")

    from recommender.evaluation.datasets import DatasetError
    from recommender.evaluation.models import ModelUnavailable
    from recommender.evaluation.runner import run_evaluation
    from recommender.evaluation.splits import SplitProtocol

    description: dict[str, Any] = {"dataset": dataset or "csv"}
    try:
        if dataset is not None:
            folder = data_dir or settings_of(ctx).shared_data_dir
            split_protocol = SplitProtocol(
                scheme=cast("Scheme", protocol),
                order=cast("Order", order),
                fraction=fraction,
                min_interactions=min_interactions,
                sampled_negatives=sampled,
            )
            source = builtin_source(
                dataset,
                folder,
                split_protocol,
                seed_list[0],
                genres_from_train=catalog_genres == "train",
            )
            description |= {
                "data": str(folder),
                "split": protocol,
                "order": order,
                "holdout_fraction": fraction if protocol == "holdout" else None,
                "min_interactions": min_interactions,
                "catalog_genres": catalog_genres if source.dataset.user_genres else None,
            }
        elif train_csv is not None and test_csv is not None:
            source = csv_source(train_csv, test_csv, negatives_csv)
            files = {"train": train_csv, "test": test_csv, "negatives": negatives_csv}
            description |= {
                "data": {name: str(path) if path else None for name, path in files.items()},
                "split": "given",
            }
        else:
            fail("--train and --test go together")
    except (DatasetError, ValueError) as exc:
        fail(str(exc))
    if k >= source.n_items:
        fail(f"--k {k} is not smaller than the {source.n_items} items to rank")
    check_models_can_run(model_names, seed_list[0], source.dataset)

    def progress(model: str, seed: int, result: SeedResult) -> None:
        click.echo(
            f"seed {seed} {model:<14} hr@{k} {result.metrics[f'hr@{k}']:.4f}  "
            f"ndcg@{k} {result.metrics[f'ndcg@{k}']:.4f}  "
            f"(fit {result.fit_seconds:.1f} s, evaluate {result.evaluate_seconds:.1f} s)",
            err=True,
        )

    try:
        report = run_evaluation(model_names, seed_list, source.data_for_seed, k, on_result=progress)
    except ModelUnavailable as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"evaluation failed: {exc}")

    description |= {
        "candidates": "sampled" if (sampled or negatives_csv) else "all items, train excluded",
        "sampled_negatives_per_user": sampled,
        "k": k,
        "seeds": seed_list,
        "ties": TIES,
        "std": "sample standard deviation over seeds (0 for one seed)",
        "items": source.n_items,
        "test_users_per_seed": report.users_per_seed(),
    }
    document = {"protocol": description, "results": report.results(), "timing": report.timing()}
    if json_path is not None:
        write_json(document, json_path)
    if str(json_path) != "-":
        click.echo(headline(description))
        click.echo(format_table(report))
    if plot is not None:
        write_plot(report, plot, headline(description))


@dataclass(frozen=True)
class Source:
    """What `run_evaluation` needs: the data of each seed, and what to check up front."""

    dataset: EvaluationDataset
    data_for_seed: Callable[[int], EvaluationData]
    n_items: int


def builtin_source(
    name: str, folder: Path, protocol: SplitProtocol, first_seed: int, *, genres_from_train: bool
) -> Source:
    from recommender.evaluation.datasets import load_dataset
    from recommender.evaluation.runner import EvaluationData

    dataset = load_dataset(name, folder)
    cache: dict[int, EvaluationData] = {}

    def data_for_seed(seed: int) -> EvaluationData:
        if seed not in cache:
            cache.clear()  # one seed's split at a time
            split = protocol.split(dataset.interactions, seed)
            negatives = protocol.negatives(split, seed)
            seen = dataset.catalog_for(split.train) if genres_from_train else dataset.catalog
            cache[seed] = EvaluationData(
                split.train, split.test, dataset.catalog, negatives, model_catalog=seen
            )
        return cache[seed]

    data_for_seed(first_seed)  # bad protocol settings fail before any training
    return Source(dataset, data_for_seed, len(dataset.interactions.item_vocab))


def csv_source(train: Path, test: Path, negatives: Path | None) -> Source:
    from recommender.evaluation.datasets import (
        EvaluationDataset,
        read_interactions_csv,
        read_pairs_csv,
    )
    from recommender.evaluation.runner import (
        EvaluationData,
        check_no_leak,
        missing_train_users,
    )

    train_rows = read_interactions_csv(train)
    test_rows = read_interactions_csv(test)
    negative_rows = read_pairs_csv(negatives) if negatives is not None else None
    missing = missing_train_users(train_rows, test_rows)
    if missing:
        fail(
            f"{test}: {len(missing)} test user(s) have no rows in {train} (e.g. {missing[0]!r}); "
            "every test user needs training interactions"
        )
    check_no_leak(train_rows, test_rows)
    fixed = EvaluationData(train_rows, test_rows, None, negative_rows)
    return Source(EvaluationDataset("csv", train_rows), lambda seed: fixed, len(fixed.items))


def headline(description: dict[str, Any]) -> str:
    split = description["split"]
    if description.get("order"):
        split = f"{split} ({description['order']})"
    users = description["test_users_per_seed"]
    user_range = f"{min(users)}" if min(users) == max(users) else f"{min(users)}-{max(users)}"
    return (
        f"{description['dataset']}: {split}, {description['candidates']}, "
        f"k={description['k']}, seeds {','.join(map(str, description['seeds']))}, "
        f"{user_range} test users, ties pessimistic"
    )


COMMANDS = [command]

"""`earworm eval` as a user runs it: CSV files or a built-in dataset in, a table, JSON and a
plot out, and one clear line (exit 2) for every bad input."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from recommender.evaluation.models import ModelUnavailable, build_model
from tests.cli import assert_one_line_error, earworm
from tests.conftest import LASTFM, SHARED_DATA, require_shared

pytestmark = pytest.mark.database_neutral(
    "evaluation reads CSV files and datasets, never the database"
)

# Popularity by hand. Train: u1 likes A B C D, u2 A B C, u3 A B, u4 A, so A=4 B=3 C=2 D=1;
# E and F occur only in test (popularity cannot score them: -inf). Six items in all.
TRAIN = "user,item,weight\n" + "".join(
    f"{user},{item},1\n"
    for user, items in {"u1": "ABCD", "u2": "ABC", "u3": "AB", "u4": "A"}.items()
    for item in items
)
# u4 -> B ranks 1st (A is in its train); u3 -> D ranks 2nd behind C; E and F are misses.
TEST = "user,item\nu1,F\nu2,E\nu3,D\nu4,B\n"


@pytest.fixture
def csv_files(tmp_path: Path) -> dict[str, Path]:
    files = {"train": TRAIN, "test": TEST, "negatives": "user,item\nu4,C\nu3,E\nu2,D\n"}
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text(text)
    return paths


def run_json(*args: str, env: dict[str, str]) -> dict:
    result = earworm("eval", *args, "--json", "-", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_popularity_on_csv_files_matches_the_hand_computation(
    env: dict[str, str], csv_files: dict[str, Path]
) -> None:
    report = run_json(
        "--train", str(csv_files["train"]), "--test", str(csv_files["test"]),
        "--models", "pop,itemknn", "--k", "2", env=env,
    )  # fmt: skip
    assert set(report) >= {"protocol", "results"}
    assert set(report["results"]) == {"pop", "itemknn"}
    pop = {name: value["mean"] for name, value in report["results"]["pop"].items()}
    assert pop == pytest.approx(
        {
            "hr@2": 2 / 4,
            "ndcg@2": (1 + 1 / math.log2(3)) / 4,
            "precision@2": (1 / 2 + 1 / 2) / 4,
            "recall@2": 2 / 4,
            "map@2": (1 + 1 / 2) / 4,
            "mrr@2": (1 + 1 / 2) / 4,
            # u4: B beats C, D and the unscorable E, F; u3: D beats E, F but not C.
            "auc": (1 + 2 / 3) / 4,
            # Lists: u4 [B, C], u3 [C, D], u2 [D], u1 [] -> B, C, D of six items.
            "coverage@2": 3 / 6,
        }
    )
    assert report["results"]["pop"]["hr@2"]["std"] == 0.0
    protocol = report["protocol"]
    assert protocol["k"] == 2
    assert protocol["split"] == "given"
    assert protocol["candidates"] == "all items, train excluded"
    assert protocol["test_users_per_seed"] == [4]
    assert protocol["ties"].startswith("pessimistic")


def test_sampled_candidates_from_a_negatives_file(
    env: dict[str, str], csv_files: dict[str, Path]
) -> None:
    common = ("--train", str(csv_files["train"]), "--test", str(csv_files["test"]), "--k", "1")
    full = run_json(*common, "--models", "pop", env=env)
    sampled = run_json(*common, "--negatives", str(csv_files["negatives"]), "--models", "pop",
                       env=env)  # fmt: skip
    assert full["results"]["pop"]["hr@1"]["mean"] == pytest.approx(1 / 4)  # only u4's B
    # u3 now ranks D against E only, which popularity cannot score: a hit.
    assert sampled["results"]["pop"]["hr@1"]["mean"] == pytest.approx(2 / 4)
    assert sampled["protocol"]["candidates"] == "sampled"


def test_table_json_file_and_plot(
    env: dict[str, str], csv_files: dict[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    report_path, plot_path = tmp_path / "report.json", tmp_path / "chart.png"
    result = earworm(
        "eval", "--train", str(csv_files["train"]), "--test", str(csv_files["test"]),
        "--models", "pop,itemknn", "--seeds", "0-2", "--k", "3",
        "--json", str(report_path), "--plot", str(plot_path), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["metric", "pop", "itemknn"]
    assert any(line.startswith("hr@3 ") and "±" in line for line in lines)
    report = json.loads(report_path.read_text())
    assert report["protocol"]["seeds"] == [0, 1, 2]
    for model in ("pop", "itemknn"):
        for metric in ("hr@3", "ndcg@3", "precision@3", "recall@3", "map@3", "mrr@3", "auc"):
            value = report["results"][model][metric]
            assert set(value) >= {"mean", "std"}
            assert 0.0 <= value["mean"] <= 1.0
            assert len(value["per_seed"]) == 3
    assert plot_path.read_bytes().startswith(b"\x89PNG")


# --- bad input: one line, exit 2 --------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("train", "test", "fragment"),
    [
        ("user,weight\nu,1\n", TEST, "missing column(s) item"),
        ("user,item,weight\nu1,A,often\n", TEST, "weight 'often' is not a finite number"),
        ("user,item,weight\nu1,A,NaN\n", TEST, "weight 'NaN' is not a finite number"),
        ("user,item,weight\nu1,A,inf\n", TEST, "weight 'inf' is not a finite number"),
        (TRAIN, "user,item\nu1,F\nstranger,A\n", "have no rows in"),
        (TRAIN, "user,item\nu1,A\n", "also appear in train"),
    ],
)
def test_bad_files(
    env: dict[str, str], tmp_path: Path, train: str, test: str, fragment: str
) -> None:
    result = earworm(
        "eval", "--train", write(tmp_path, "train.csv", train),
        "--test", write(tmp_path, "test.csv", test), env=env,
    )  # fmt: skip
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--k", "0"], "--k must be at least 1"),
        (["--k", "-5"], "--k must be at least 1"),
        (["--k", "100000"], "too large: at most 1000"),
        (["--k", "6"], "not smaller than the 6 items"),
        (["--models", "pop,svd"], "unknown model 'svd'"),
        (["--models", "content", "--k", "2"], "needs the catalog's audio features"),
        (["--seeds", "1,x"], "non-negative integers"),
        (["--seeds", "1,1"], "given twice"),
        (["--plot", "/nonexistent-folder/chart.png"], "no folder /nonexistent-folder"),
        (["--json", "/nonexistent-folder/report.json"], "no folder /nonexistent-folder"),
    ],
)
def test_bad_options(
    env: dict[str, str], csv_files: dict[str, Path], options: list[str], fragment: str
) -> None:
    if "--plot" in options:
        pytest.importorskip("matplotlib")
    result = earworm(
        "eval", "--train", str(csv_files["train"]), "--test", str(csv_files["test"]),
        *options, env=env,
    )  # fmt: skip
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ([], "give either --dataset"),
        (["--train", "train.csv"], "--train and --test go together"),
        (["--dataset", "lastfm-hetrec2k", "--negatives", "n.csv"], "use --sampled N"),
        (["--dataset", "lastfm-hetrec2k", "--data-dir", "/nowhere"], "not found"),
        (["--dataset", "lastfm-hetrec2k", "--fraction", "1.5"], "between 0 and 1"),
    ],
)
def test_bad_data_choices(env: dict[str, str], options: list[str], fragment: str) -> None:
    assert_one_line_error(earworm("eval", *options, env=env), fragment)


def test_a_missing_content_model_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "recommender.content", None)  # import now fails
    with pytest.raises(ModelUnavailable, match="model 'content' is not available: "):
        build_model("content", 0)
    assert build_model("pop", 0).kind == "pop"


# --- real data ------------------------------------------------------------------------------


def test_lastfm_one_seed(env: dict[str, str]) -> None:
    require_shared(LASTFM)
    report = run_json(
        "--dataset", "lastfm-hetrec2k", "--data-dir", str(SHARED_DATA), "--seeds", "0", env=env
    )
    results = report["results"]
    # 1,892 users, 8 of them with a single artist: not tested (they still train).
    assert report["protocol"]["test_users_per_seed"] == [1_884]
    assert report["protocol"]["items"] == 17_632
    pop, knn = results["pop"]["hr@10"]["mean"], results["itemknn"]["hr@10"]["mean"]
    assert 0.05 < pop < 0.10
    assert 0.14 < knn < 0.22
    assert results["itemknn"]["ndcg@10"]["mean"] > 2 * results["pop"]["ndcg@10"]["mean"]

"""`earworm bench profiles`: what the bounded content profile costs in recall.

Serving scores a member's content part against at most PROFILE_POINTS points: their liked
tracks themselves up to that many, else weighted k-means centres of the liked tracks'
vectors (recommender.content.bounded_profile), so the cost of a request does not grow with
a member's history. This measures what that costs against the exact form (every liked
track) on held-out likes.

Members are real playlists of TidyTuesday's spotify_songs (../shared/data): each playlist
with at least MIN_TRACKS tracks that have audio features is a member; a seeded fifth of its
tracks is held out and the rest are the member's likes. Both forms rank the whole catalog
(the likes excluded) and are judged by recall@10 and recall@50 of the held-out tracks, and
by how many of the exact form's top 10 the bounded form keeps (overlap@10); mean over the
seeds. Scoring time per member is measured for both forms on this catalog.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from recommender.content import PROFILE_POINTS, ContentSimilarity
from recommender.data import Interactions, ItemCatalog

HELD_OUT_SHARE = 0.2
MIN_TRACKS = 30  # with audio features: fewer likes would rarely pass the bound at all
# Clusters play no part in member scoring; one candidate count keeps fitting quick.
BENCH_TUNING = {"cluster_candidates": (4,)}
NO_USERS = Interactions.from_rows([], [])


def _members(
    interactions: Interactions, model: ContentSimilarity, seed: int, limit: int
) -> list[tuple[str, list[str], set[str]]]:
    """(member, liked, held out) for up to `limit` playlists, split with `seed`."""
    rng = np.random.default_rng(seed)
    by_member: dict[str, list[str]] = {}
    for user, item in zip(interactions.users.tolist(), interactions.items.tolist(), strict=True):
        if model.has_features(item):
            by_member.setdefault(user, []).append(item)
    eligible = sorted(user for user, items in by_member.items() if len(set(items)) >= MIN_TRACKS)
    chosen = rng.permutation(len(eligible))[:limit]
    members = []
    for position in chosen.tolist():
        user = eligible[position]
        items = sorted(set(by_member[user]))
        held = set(rng.choice(items, round(len(items) * HELD_OUT_SHARE), replace=False).tolist())
        members.append((user, [item for item in items if item not in held], held))
    return members


def _ranked(scores: np.ndarray, liked: np.ndarray, k: int) -> np.ndarray:
    scores = scores.copy()
    scores[liked] = -np.inf
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def run_profile_bench(
    catalog: ItemCatalog,
    interactions: Interactions,
    *,
    seeds: Sequence[int],
    members: int,
    points: Sequence[int] = (4, 8, PROFILE_POINTS, 32),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    progress(f"fitting the content model on {len(catalog):,} tracks ...")
    model = ContentSimilarity(seed=0, **BENCH_TUNING).fit(NO_USERS, catalog).with_mode("genre")
    forms = ["exact", *(f"{p} points" for p in points)]
    names = ("recall@10", "recall@50", "overlap@10", "ms")
    totals: dict[str, dict[str, list[float]]] = {
        form: {name: [] for name in names} for form in forms
    }
    likes_per_member: list[int] = []
    for seed in seeds:
        progress(f"seed {seed}: scoring {members} members ...")
        per_seed = {form: {"recall@10": [], "recall@50": [], "overlap@10": []} for form in forms}
        for user, liked, held in _members(interactions, model, seed, members):
            likes_per_member.append(len(liked))
            rows = Interactions.from_rows([user] * len(liked), liked)
            liked_index = catalog.vocab.indices(liked)
            held_index = set(catalog.vocab.indices(sorted(held)).tolist())
            exact_top = None
            for form in forms:
                scorer = (
                    model.with_users(rows)
                    if form == "exact"
                    else model.with_member(rows, max_points=int(form.split()[0]))
                )
                started = time.perf_counter()
                scores = scorer.score_users([user])[0]
                totals[form]["ms"].append((time.perf_counter() - started) * 1000)
                top = _ranked(scores, liked_index, 50)
                if exact_top is None:
                    exact_top = set(top[:10].tolist())
                hits = [i in held_index for i in top.tolist()]
                per_seed[form]["recall@10"].append(sum(hits[:10]) / len(held_index))
                per_seed[form]["recall@50"].append(sum(hits) / len(held_index))
                per_seed[form]["overlap@10"].append(len(exact_top & set(top[:10].tolist())) / 10)
        for form in forms:
            for name, values in per_seed[form].items():
                totals[form][name].append(float(np.mean(values)) if values else float("nan"))
    results = {
        form: {
            **{
                name: {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4)}
                for name, v in figures.items()
                if name != "ms"
            },
            "ms": {
                "p50": round(float(np.percentile(figures["ms"], 50)), 3),
                "p99": round(float(np.percentile(figures["ms"], 99)), 3),
            },
        }
        for form, figures in totals.items()
    }
    return {
        "tracks": len(catalog),
        "seeds": list(seeds),
        "members_per_seed": members,
        "likes_per_member": {
            "min": int(min(likes_per_member, default=0)),
            "median": int(np.median(likes_per_member)) if likes_per_member else 0,
            "max": int(max(likes_per_member, default=0)),
        },
        "held_out_share": HELD_OUT_SHARE,
        "serving_points": PROFILE_POINTS,
        "results": results,
    }


def print_report(report: dict[str, Any], echo: Callable[[str], None]) -> None:
    likes = report["likes_per_member"]
    echo(report["command"])
    echo(
        f"{report['tracks']:,} tracks; {report['members_per_seed']} playlists per seed as members "
        f"({likes['min']}-{likes['max']} likes, median {likes['median']}); "
        f"{report['held_out_share']:.0%} of each held out; seeds {report['seeds']}"
    )
    echo(f"{'profile':<12} {'recall@10':>17} {'recall@50':>17} {'overlap@10':>11} {'ms p50':>8}")
    for form, row in report["results"].items():
        marker = " (serving)" if form == f"{report['serving_points']} points" else ""
        echo(
            f"{form:<12} {row['recall@10']['mean']:.4f} ± {row['recall@10']['std']:.4f}   "
            f"{row['recall@50']['mean']:.4f} ± {row['recall@50']['std']:.4f}   "
            f"{row['overlap@10']['mean']:>10.3f} {row['ms']['p50']:>8.2f}{marker}"
        )

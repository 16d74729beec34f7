"""`earworm bench similarity`: `/similar`'s modes against an outside check built from the
data Earworm has: held-out playlist co-membership.

**The check.** The catalog files of the playlist-based datasets (TidyTuesday's
spotify_songs, the 2024 high/low popularity files) say which public playlist each row came
from. Per split (seeded), 75 % of the playlists are *fit* playlists and 25 % *test*
playlists. A query is a (seed track, test playlist) membership: the playlist's other tracks
(minus other versions of the seed's song) are relevant. The whole catalog is ranked, and
every method's list goes through the project's diversity rules. Everything learned from
playlists is fitted on the fit playlists only: the artist relations here, as
`earworm simulate` holds its members' playlists out of them (the leak guard).

**Genres two ways.** The catalog's genres are playlist labels. With genres from *all* rows
(what the database holds and serving sees) a test playlist's members carry its label, which
rewards genre methods for finding the label: it leaks. With genres from *fit* rows only
(leak-free), tracks seen only in test playlists have none (the style blend then borrows the
artist's genres, recommender/style.py). Both are reported; the truth lies between.

**Methods** (k = 10): `normal` (the style blend, recommender/style.py), `sound` (the
audio-feature embedding alone: what `normal` was before), `genre` (sound among tracks
sharing a genre), popularity, random, and the rule to beat: the tracks that share the most
genres with the seed, ties by closeness of release year, then popularity.

**Metrics**, means over queries, then mean ± std over splits: P@10, HR@10 and NDCG@10 of
co-membership; genre precision@10 (share of results sharing a genre with the seed, always
judged on all-row genres, the labels people see); the median |release-year gap| between
seed and results; the mean distance between seed and results in the audio embedding of
the content model fitted on all-row genres (lower: closer in sound); milliseconds a query.

**Latency at 114k**: `/similar`'s model call (k = 10, reasons included, one BLAS thread)
on the 114,000-row Kaggle-format file `earworm bench catalog` derives (bot/bench/catalog.py
derive_catalog). That file has no playlists and no release dates, so there the blend
reduces to genre, the seed's own artist and sound; it is also timed with the real
playlists' artist relations carried over by artist name (the pessimistic side).

**Last.fm (evaluation only).** The HetRec 2011 Last.fm data is licensed for non-commercial
research: it never feeds anything the bot serves. Here it is an outside check of the
artist relations alone: for each catalog artist matched by name with enough Last.fm
listeners, the truth is its ten most co-listened matched artists; the relations (fitted on
every playlist), the artists' genre profiles and random order rank the others.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from bot.bench.catalog import load_real_tracks, machine, percentile
from bot.serving.catalog import release_years
from recommender.artists import ArtistRelations, Playlists, artist_key
from recommender.content import ContentSimilarity
from recommender.data import Interactions, ItemCatalog
from recommender.diversity import diversify, song_key
from recommender.style import StyleSimilarity
from storage.catalog.formats import RowParser, SkipRow, detect_format
from storage.catalog.parse import ParsedCatalog
from storage.catalog.sources import expand_sources, open_tables
from storage.models import AUDIO_FEATURES

IntArray = npt.NDArray[np.int64]
K = 10
TEST_SHARE = 0.25
GENRE_VARIANTS = ("all", "fit")
METHODS = ("normal", "sound", "genre", "rule", "popularity", "random")
METHOD_LABELS = {
    "normal": "mode: normal (style blend, after)",
    "sound": "mode: sound (= normal before)",
    "genre": "mode: genre",
    "rule": "ten-line rule (shared genres, year, popularity)",
    "popularity": "popularity",
    "random": "random",
}
METRICS = ("p10", "hr10", "ndcg10", "genre_p10", "year_gap", "emb_dist", "ms")
LATENCY_ROWS = 114_000
LASTFM_MIN_LISTENERS = 20
NO_USERS = Interactions.from_rows([], [])
DISCOUNTS = 1.0 / np.log2(np.arange(2, K + 2))

Progress = Callable[[str], None]
Method = Callable[[int], IntArray]


# --- the catalog with its playlist rows -------------------------------------------------------


@dataclass(frozen=True)
class PlaylistCatalog:
    """The catalog as the importer builds it (same rows kept, same merge), plus one entry
    per (track, playlist) row with that row's own genres, so genres can be rebuilt from
    any subset of playlists."""

    catalog: ItemCatalog  # genres from all rows
    row_track: IntArray
    row_playlist: npt.NDArray[np.str_]
    row_genres: list[tuple[str, ...]]

    def genres_from(self, rows: npt.NDArray[np.bool_]) -> list[tuple[str, ...]]:
        """Per track, the union (in row order) of the genres of the chosen rows."""
        genres: list[list[str]] = [[] for _ in range(len(self.catalog))]
        for row in np.flatnonzero(rows).tolist():
            held = genres[int(self.row_track[row])]
            held.extend(genre for genre in self.row_genres[row] if genre not in held)
        return [tuple(held) for held in genres]

    def playlists(self, rows: npt.NDArray[np.bool_]) -> Playlists:
        return Playlists(self.catalog.ids[self.row_track[rows]], self.row_playlist[rows])


def read_playlist_catalog(folder: Path) -> PlaylistCatalog:
    """Every playlist-based file in `folder`, row by row, with the importer's parser."""
    parsed = ParsedCatalog()
    rows: list[tuple[str, str, tuple[str, ...]]] = []
    for path in expand_sources([str(folder)]):
        with open_tables(Path(path)) as tables:
            for name, table in tables:
                header = next(table, None)
                if header is None:
                    continue
                parser = RowParser(detect_format(header, name), header)
                for row in table:
                    if not row:
                        continue
                    try:
                        track = parser.parse(row)
                    except SkipRow:
                        continue
                    if track.playlists:
                        rows.append((str(track.row["id"]), track.playlists[0], tuple(track.genres)))
                    parsed.add(track)
    catalog = catalog_of(parsed)
    index = catalog.vocab.indices([track for track, _, _ in rows])
    return PlaylistCatalog(
        catalog=catalog,
        row_track=index,
        row_playlist=np.asarray([playlist for _, playlist, _ in rows], dtype=np.str_),
        row_genres=[genres for _, _, genres in rows],
    )


def catalog_of(parsed: ParsedCatalog) -> ItemCatalog:
    """The parsed tracks as the recommender sees them (bot/serving/catalog.py's rules)."""
    tracks = list(parsed.tracks.values())

    def value(row: dict[str, object], column: str) -> float:
        cell = row.get(column)
        return math.nan if cell is None else float(cell)  # type: ignore[arg-type]

    return ItemCatalog(
        ids=np.asarray([str(t.row["id"]) for t in tracks], dtype=np.str_),
        names=[str(t.row["name"]) for t in tracks],
        artists=[tuple(t.artists) for t in tracks],
        genres=[tuple(t.genres) for t in tracks],
        popularity=np.asarray([value(t.row, "popularity") for t in tracks], dtype=float),
        features=np.asarray(
            [[value(t.row, name) for name in AUDIO_FEATURES] for t in tracks], dtype=float
        ).reshape(len(tracks), len(AUDIO_FEATURES)),
        feature_names=AUDIO_FEATURES,
        years=release_years(
            [str(t.row["release_date"]) if t.row.get("release_date") else None for t in tracks]
        ),
    )


def with_genres(catalog: ItemCatalog, genres: list[tuple[str, ...]]) -> ItemCatalog:
    return replace(catalog, genres=genres)


# --- queries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    seed: int
    relevant: IntArray


def song_ids(catalog: ItemCatalog) -> IntArray:
    """Tracks with the same value are versions of one song (recommender.diversity)."""
    keys = [song_key(catalog, index) for index in range(len(catalog))]
    texts = np.asarray([f"{title}\x1f{artist}" for title, artist in keys], dtype=np.str_)
    return np.unique(texts, return_inverse=True)[1].astype(np.int64)


def split_playlists(
    playlists: npt.NDArray[np.str_], seed: int
) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.str_]]:
    """(fit, test) playlists: a seeded 75 / 25 split."""
    names = np.unique(playlists)
    order = np.random.default_rng(seed).permutation(len(names))
    test = round(len(names) * TEST_SHARE)
    return names[order[test:]], names[order[:test]]


def make_queries(
    data: PlaylistCatalog, test: npt.NDArray[np.str_], songs: IntArray, count: int, seed: int
) -> list[Query]:
    """`count` (seed, test playlist) memberships drawn with `seed`; the relevant tracks are
    the playlist's others, minus versions of the seed's song."""
    rows = np.isin(data.row_playlist, test)
    members: dict[str, IntArray] = {}
    for playlist in np.unique(data.row_playlist[rows]).tolist():
        members[playlist] = np.unique(data.row_track[rows & (data.row_playlist == playlist)])
    pairs = [(int(t), p) for p, tracks in members.items() for t in tracks.tolist()]
    order = np.random.default_rng(seed).permutation(len(pairs))
    queries: list[Query] = []
    for position in order.tolist():
        seed_track, playlist = pairs[position]
        tracks = members[playlist]
        relevant = tracks[(tracks != seed_track) & (songs[tracks] != songs[seed_track])]
        if len(relevant):
            queries.append(Query(seed_track, relevant))
        if len(queries) >= count:
            break
    return queries


# --- methods ----------------------------------------------------------------------------------


def style_method(style: StyleSimilarity) -> Method:
    return lambda seed: style.rank([seed], K)[0]


def content_method(content: ContentSimilarity, mode: str) -> Method:
    model = content.with_mode(mode)
    vocab = model.item_vocab

    def run(seed: int) -> IntArray:
        found = model.similar_items(vocab.id_of(seed), K)
        return vocab.indices([r.item for r in found])

    return run


def ranked_method(catalog: ItemCatalog, score: Callable[[int], npt.NDArray[Any]]) -> Method:
    """The best K of `score(seed)` (higher is better) under the diversity rules."""

    def run(seed: int) -> IntArray:
        scores = np.asarray(score(seed), dtype=np.float64).copy()
        scores[seed] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))
        order = order[np.isfinite(scores[order])]
        taken = [song_key(catalog, seed)]
        return np.asarray(diversify(order[: 40 * K], catalog, K, taken_songs=taken), np.int64)

    return run


def rule_method(catalog: ItemCatalog) -> Method:
    """The tracks that share the most genres with the seed, ties by closeness of release
    year, then popularity: the ten-line rule the blend must beat."""
    names = sorted({genre for genres in catalog.genres for genre in genres})
    position = {name: index for index, name in enumerate(names)}
    rows = [item for item, genres in enumerate(catalog.genres) for _ in genres]
    cols = [position[genre] for genres in catalog.genres for genre in genres]
    binary = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(catalog), len(names)))
    years = catalog.release_years
    popularity = np.nan_to_num(np.asarray(catalog.popularity, dtype=float), nan=0.0)

    def score(seed: int) -> npt.NDArray[np.float64]:
        shared = np.asarray(binary @ binary[seed].T.toarray()).ravel()
        gap = np.abs(years - years[seed])
        gap = np.where(np.isfinite(gap), np.minimum(gap, 998), 999)
        return shared * 1e7 - gap * 1e3 + popularity

    return ranked_method(catalog, score)


def popularity_method(catalog: ItemCatalog) -> Method:
    popularity = np.nan_to_num(np.asarray(catalog.popularity, dtype=float), nan=-1.0)
    return ranked_method(catalog, lambda seed: popularity)


def random_method(catalog: ItemCatalog, seed: int) -> Method:
    rng = np.random.default_rng(seed)
    return ranked_method(catalog, lambda _: rng.random(len(catalog)))


# --- metrics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judge:
    """What results are judged against: all-row genres, release years, the audio
    embedding of the content model fitted on all-row genres."""

    genres: sp.csr_matrix  # tracks x genres, binary
    years: npt.NDArray[np.float64]
    embedding: npt.NDArray[np.float32]
    has_embedding: npt.NDArray[np.bool_]


def judge_of(catalog: ItemCatalog, content: ContentSimilarity) -> Judge:
    names = sorted({genre for genres in catalog.genres for genre in genres})
    position = {name: index for index, name in enumerate(names)}
    rows = [item for item, genres in enumerate(catalog.genres) for _ in genres]
    cols = [position[genre] for genres in catalog.genres for genre in genres]
    binary = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(catalog), len(names)))
    return Judge(
        binary.tocsr(),
        catalog.release_years,
        np.asarray(content.vectors),
        np.asarray(content.has_vector),
    )


def evaluate(judge: Judge, queries: Sequence[Query], method: Method) -> dict[str, float]:
    started = time.perf_counter()
    lists = [np.asarray(method(query.seed), dtype=np.int64)[:K] for query in queries]
    seconds = time.perf_counter() - started
    p10, hr10, ndcg10, genre, dist = [], [], [], [], []
    gaps: list[npt.NDArray[np.float64]] = []
    for query, items in zip(queries, lists, strict=True):
        hit = np.isin(items, query.relevant)
        p10.append(hit.sum() / K)
        hr10.append(float(hit.any()))
        ideal = DISCOUNTS[: min(K, len(query.relevant))].sum()
        ndcg10.append(float((DISCOUNTS[: len(items)] * hit).sum() / ideal))
        if len(items) == 0:
            continue
        seed_genres = judge.genres[query.seed].indices
        if len(seed_genres):
            shared = judge.genres[items][:, seed_genres].sum(axis=1)
            genre.append(float((np.asarray(shared).ravel() > 0).mean()))
        gap = np.abs(judge.years[items] - judge.years[query.seed])
        gaps.append(gap[np.isfinite(gap)])
        if judge.has_embedding[query.seed]:
            usable = items[judge.has_embedding[items]]
            if len(usable):
                delta = judge.embedding[usable] - judge.embedding[query.seed]
                dist.append(float(np.linalg.norm(delta, axis=1).mean()))
    pooled = np.concatenate(gaps) if gaps else np.zeros(0)
    return {
        "p10": float(np.mean(p10)),
        "hr10": float(np.mean(hr10)),
        "ndcg10": float(np.mean(ndcg10)),
        "genre_p10": float(np.mean(genre)) if genre else math.nan,
        "year_gap": float(np.median(pooled)) if len(pooled) else math.nan,
        "emb_dist": float(np.mean(dist)) if dist else math.nan,
        "ms": 1000 * seconds / max(len(queries), 1),
    }


def summarise(per_split: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """{metric: {"mean", "std"}} over splits (NaN ignored)."""
    summary = {}
    for metric in METRICS:
        values = np.asarray([split[metric] for split in per_split], dtype=float)
        finite = values[np.isfinite(values)]
        summary[metric] = {
            "mean": float(finite.mean()) if len(finite) else math.nan,
            "std": float(finite.std()) if len(finite) else math.nan,
        }
    return summary


# --- the run ----------------------------------------------------------------------------------


def fit_content(catalog: ItemCatalog, epochs: int | None) -> ContentSimilarity:
    options = {} if epochs is None else {"embedding_epochs": epochs}
    return ContentSimilarity(seed=0, **options).fit(NO_USERS, catalog)


def relations_of(data: PlaylistCatalog, rows: npt.NDArray[np.bool_]) -> ArtistRelations:
    return ArtistRelations(playlists=data.playlists(rows)).fit(NO_USERS, data.catalog)


def co_membership(
    data: PlaylistCatalog,
    *,
    splits: int,
    queries: int,
    seed: int,
    epochs: int | None,
    progress: Progress,
) -> dict[str, Any]:
    """Every method on the same queries per split, in both genre variants."""
    catalog = data.catalog
    songs = song_ids(catalog)
    progress("fitting the content model on all-row genres")
    reference = fit_content(catalog, epochs)
    judge = judge_of(catalog, reference)
    results: dict[str, dict[str, list[dict[str, float]]]] = {
        variant: {method: [] for method in METHODS} for variant in GENRE_VARIANTS
    }
    details = []
    for split in range(splits):
        fit, test = split_playlists(data.row_playlist, seed + split)
        fit_rows = np.isin(data.row_playlist, fit)
        chosen = make_queries(data, test, songs, queries, seed + split)
        relations = relations_of(data, fit_rows)  # never the test playlists
        fit_genres = data.genres_from(fit_rows)
        details.append(
            {
                "split": seed + split,
                "fit_playlists": len(fit),
                "test_playlists": len(test),
                "queries": len(chosen),
                "tracks_with_fit_genres": sum(1 for genres in fit_genres if genres),
                "related_artists": relations.report["related_artists"],
            }
        )
        for variant in GENRE_VARIANTS:
            if variant == "all":
                content = reference
            else:
                progress(f"split {split + 1}/{splits}: fitting the content model on fit genres")
                content = fit_content(with_genres(catalog, fit_genres), epochs)
            style = StyleSimilarity.from_content(content, relations)
            methods: dict[str, Method] = {
                "normal": style_method(style),
                "sound": content_method(content, "normal"),
                "genre": content_method(content, "genre"),
                "rule": rule_method(content.catalog),
                "popularity": popularity_method(catalog),
                "random": random_method(catalog, seed + split),
            }
            for name, method in methods.items():
                progress(f"split {split + 1}/{splits}, {variant} genres: {name}")
                results[variant][name].append(evaluate(judge, chosen, method))
    return {
        "splits": details,
        "results": {
            variant: {method: summarise(runs) for method, runs in by_method.items()}
            for variant, by_method in results.items()
        },
        "per_split": results,
    }


def latency(
    folder: Path,
    relations: ArtistRelations,
    *,
    rows: int,
    count: int,
    seed: int,
    epochs: int | None,
    progress: Progress,
) -> dict[str, Any]:
    """`/similar`'s model call on the derived Kaggle-format catalog (module docstring)."""
    from bot.bench.catalog import derive_catalog, write_kaggle_csv
    from storage.catalog.parse import parse_files

    progress(f"deriving the {rows:,}-row Kaggle-format catalog")
    derived = derive_catalog(load_real_tracks(folder), rows, seed)
    with tempfile.TemporaryDirectory(prefix="earworm-similarity-") as scratch:
        path = write_kaggle_csv(Path(scratch) / "kaggle.csv", derived.rows)
        catalog = catalog_of(parse_files([path]))
    progress(f"fitting the content model on {len(catalog):,} tracks")
    started = time.perf_counter()
    content = fit_content(catalog, epochs)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    style = StyleSimilarity.from_content(content)
    build_seconds = time.perf_counter() - started
    carried = style.with_relations(relations, "the real playlists' relations, by artist name")
    usable = np.flatnonzero(np.asarray(content.has_vector))
    seeds = np.random.default_rng(seed).choice(usable, min(count, len(usable)), replace=False)
    ids = catalog.ids[seeds].tolist()
    timed: dict[str, Callable[[str], Any]] = {
        "normal (as served from this file)": lambda item: style.similar_items(item, K),
        "normal, with playlist relations carried over": lambda item: carried.similar_items(item, K),
        "sound": lambda item: content.similar_items(item, K),
        "genre": lambda item: content.with_mode("genre").similar_items(item, K),
    }
    stats = {}
    for name, call in timed.items():
        progress(f"timing {name}")
        for item in ids[:20]:  # warm-up
            call(item)
        times = []
        for item in ids:
            begun = time.perf_counter()
            call(item)
            times.append(1000 * (time.perf_counter() - begun))
        stats[name] = {
            "queries": len(times),
            "p50_ms": round(percentile(times, 50), 3),
            "p90_ms": round(percentile(times, 90), 3),
            "p99_ms": round(percentile(times, 99), 3),
            "max_ms": round(max(times), 3),
        }
    return {
        "rows": rows,
        "tracks": len(catalog),
        "tracks_with_year": int(np.isfinite(catalog.release_years).sum()),
        "content_fit_s": round(fit_seconds, 1),
        "style_build_s": round(build_seconds, 2),
        "latency": stats,
    }


def lastfm_check(
    folder: Path, relations: ArtistRelations, style: StyleSimilarity
) -> dict[str, Any]:
    """Artist relations against Last.fm co-listening (module docstring; evaluation only)."""
    import csv

    names: dict[int, str] = {}
    with (folder / "artists.dat").open(encoding="utf-8", errors="replace") as stream:
        reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader, None)
        for row in reader:
            if len(row) >= 2 and row[0].isdigit():
                names[int(row[0])] = row[1]
    ours = {key: index for index, key in enumerate(style.artist_keys)}
    users: list[int] = []
    artists: list[int] = []
    with (folder / "user_artists.dat").open(encoding="utf-8") as stream:
        next(stream, None)
        for line in stream:
            parts = line.split("\t")
            if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
                continue
            found = ours.get(artist_key(names.get(int(parts[1]), "")), -1)
            if found >= 0:
                users.append(int(parts[0]))
                artists.append(found)
    local, column = np.unique(np.asarray(artists, dtype=np.int64), return_inverse=True)
    listeners = np.unique(np.asarray(users), return_inverse=True)[1]
    heard = sp.csr_matrix((np.ones(len(column)), (column, listeners)))
    heard.data[:] = 1.0
    counts = np.asarray(heard.sum(axis=1)).ravel()
    unit = sp.diags(1.0 / np.sqrt(np.maximum(counts, 1))) @ heard
    together = (unit @ unit.T).toarray()
    np.fill_diagonal(together, -1.0)
    probes = np.flatnonzero(counts >= LASTFM_MIN_LISTENERS)
    truth = {int(p): set(np.argsort(-together[p], kind="stable")[:K].tolist()) for p in probes}
    mapped = relations.matrix_for([style.artist_keys[a] for a in local.tolist()]).toarray()
    profiles = style.artist_genres[local]
    rng = np.random.default_rng(0)
    scorers = {
        "playlist relations (NPMI, every playlist)": mapped,
        "artists' genre profiles (IDF cosine)": (profiles @ profiles.T).toarray(),
        "random": rng.random((len(local), len(local))),
    }
    table = {}
    for name, scores in scorers.items():
        scores = scores.astype(float) + 1e-9 * rng.random(scores.shape)  # random ties
        np.fill_diagonal(scores, -np.inf)
        overlaps = [
            len(set(np.argsort(-scores[p])[:K].tolist()) & truth[int(p)]) for p in probes.tolist()
        ]
        table[name] = {
            "p10": float(np.mean(overlaps) / K) if overlaps else math.nan,
            "hr10": float(np.mean([o > 0 for o in overlaps])) if overlaps else math.nan,
        }
    return {
        "matched_artists": len(local),
        "probes": len(probes),
        "min_listeners": LASTFM_MIN_LISTENERS,
        "results": table,
        "licence": "HetRec 2011 Last.fm: non-commercial research; evaluation only",
    }


def run_similarity_bench(
    folder: Path,
    *,
    splits: int,
    queries: int,
    seed: int,
    latency_rows: int,
    latency_queries: int,
    lastfm: Path | None,
    epochs: int | None = None,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Every figure of the module docstring, as JSON-able data."""
    progress(f"reading {folder}")
    data = read_playlist_catalog(folder)
    if len(data.row_track) == 0:
        raise ValueError(f"{folder} holds no playlist-based catalog file (no playlist_id rows)")
    report: dict[str, Any] = {
        "machine": machine(),
        "catalog": {
            "tracks": len(data.catalog),
            "playlists": len(np.unique(data.row_playlist)),
            "playlist_rows": len(data.row_track),
        },
        "k": K,
        "co_membership": co_membership(
            data, splits=splits, queries=queries, seed=seed, epochs=epochs, progress=progress
        ),
    }
    everything = relations_of(data, np.ones(len(data.row_track), dtype=bool))
    if latency_rows > 0 and latency_queries > 0:
        report["latency"] = latency(
            folder,
            everything,
            rows=latency_rows,
            count=latency_queries,
            seed=seed,
            epochs=epochs,
            progress=progress,
        )
    if lastfm is not None:
        progress("the Last.fm artist check (evaluation only)")
        # Genre profiles and artists only: no audio embedding is needed.
        empty = np.zeros((len(data.catalog), 1), dtype=np.float32)
        style = StyleSimilarity.fit(data.catalog, empty, relations=everything)
        report["lastfm"] = lastfm_check(lastfm, everything, style)
    return report

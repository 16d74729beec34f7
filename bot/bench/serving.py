"""`earworm bench serving`: the real bot serving a big server, the numbers issue 17 asks for.

One run of the real bot (`create_bot`, every cog) under SimCord, on a scratch copy of a
prepared database: the catalog, `--rows` feedback rows from `--members` members and two ALS
versions in the model registry (one active). Prepared once per (rows, members, seed,
catalog) in `<data dir>/bench/serving/<key>/` by a child process, so a second run reuses it
and the measured process never held the preparation's memory.

The catalog
-----------
By default the derived 114,000-row Kaggle-format file (bot/bench/catalog.py
`derive_catalog`, 89,764 distinct tracks: the 32,327 real ones of ../shared/data/
spotify_catalog, then synthetic copies of them; docs/performance.md "The derived 114k
file"), written to the cache folder, imported and deleted. `--catalog FILE` imports that
file instead.

The feedback: real tastes, scaled
---------------------------------
1. **Copies.** A catalog track whose id is `copy_id(X, c)` of another catalog track X is
   copy c of X (catalog.py gives copies new ids and keeps the real artists). The tracks
   that are no copy are the *originals*; the copies form layers 1, 2, ... (for the derived
   114k file: every original has copy 1, and 25,110 of them copy 2). Any other file has
   originals only.
2. **Tastes** (evaluation data: HetRec's licence is non-commercial, fine for a benchmark,
   never for serving):
   - *Playlists*: each playlist of the TidyTuesday `spotify_songs` table
     (spotify_catalog/spotify_songs.zip, bot/demo/session.py `read_playlists`) is a taste:
     its tracks that are originals in the catalog, each weighted 1.
   - *Last.fm listeners*: each HetRec 2K user (lastfm_hetrec2k/user_artists.dat, names in
     artists.dat) is a taste: every catalog original by one of their artists (artist names
     compared normalised: accents and punctuation dropped, case folded, a leading "the"
     dropped), weighted so that each artist's tracks together weigh the user's play count
     of that artist.
   A taste needs `MIN_TASTE_TRACKS` tracks. The tastes are shuffled with the seed.
3. **Members.** Member m (0 .. `--members` - 1) has taste m mod T (T tastes) on copy layer
   (m div T) mod L (L layers): a taste's tracks become that layer's copies of them (the
   original where a track has no such copy). So 50,000 members are about 2,300 real tastes,
   each repeated on every layer of the catalog, and every member's rows are a fresh sample.
4. **Rows.** Member m gets `--rows` div `--members` rows (the first `--rows` mod
   `--members` members one more). Their kinds are drawn with the seed in the shares
   `KIND_SHARES` (likes mostly; chosen for the benchmark, not measured on a real server).
   Likes and loves are tracks of the member's taste, drawn without replacement with
   the taste's weights (the loves are the heaviest of them); a taste too small for its
   member's positives is extended by the same songs on the other copy layers, then by the
   next tastes in order. Skips and dislikes are catalog tracks outside the taste, drawn
   by popularity (what members are shown and pass on), on the member's layer. Every row is
   a distinct (member, track, kind): all of them are stored. Times are spread uniformly
   over the year before preparation; the source is "import", the server the simulated
   one.
5. **Members as SimCord users.** The simulated server creates its members before the bot
   starts, in a fixed order, so SimCord (virtual clock from a fixed epoch) hands out the
   same ids every time: the preparation makes them the same way and stores each member's
   rows under their id, and the run checks that the ids still match.

Inserted in chunks through `storage.repositories.feedback_import.import_feedback`
(executemany), one commit per chunk. Then ALS is fitted twice directly (not through the
learning loop) on the same rows, with the fixed hyperparameters of docs/simulation.md
(`ALS_FIXED`), seeds `--seed` and `--seed` + 1, saved as artifacts and registered: v1
active, v2 a candidate. The bot is started once on a scratch copy so caches keyed by the
catalog (the content model) are built before anything is timed. At 2,000,000 rows and
50,000 members this took 3 min 49 s on the 2-core machine (insert 142 s, each ALS fit
18 s, the start 27 s; the database is 730 MB), the child peaking at 2.8 GiB.

The run
-------
- **Start-up** (`startup_s`): the time `create_bot` takes plus the time from starting it
  (SimCord's connect: setup hook, engine start, cogs, command sync, the guild with its
  members) to the answer of the first `/recommend`; SimCord creating its members is left
  out.
- **Commands**, for `--duration` seconds: `--rate` (20) per second at seeded exponential
  gaps (open loop: arrivals never wait for answers), each from a random member: 70 %
  `/recommend count:5`, 30 % `/similar` of a popularity-weighted catalog track, preceded
  by the track autocomplete a member types for it (3-8 letters of its name). Emitted
  without SimCord settling after each (bot/bench/bot_load.py `in_flight_together`), and
  with SimCord's virtual clock kept cheap (`lean_virtual_clock`: no poll scan over every
  message, cancelled timers pruned), which otherwise costs the loop more than the bot.
  Latency is the bot's own (`bot.timings`: from the handler's start to its end; a card's
  picks are queued for the feedback writer, not waited for). The stages of `/recommend`
  and of its card ("stage ..." series: the member's state, the recently-served read,
  card details, the reply, storing the picks) go to `other_series_ms`. When
  the engine records a "compute recommend" series (the scoring part), it is
  `compute_ms`, else null with a note.
- **Reactions**: `--reaction-rate` (200) per second from random members on cards already
  posted in the run, emojis in `REACTION_SHARES`, fed straight into discord.py's gateway
  parser (`parse_message_reaction_add`, as `earworm bench bot` does for its "direct"
  figure): the bot's own handling (card lookup, the feedback writer) without SimCord's
  simulated gateway, which costs more than the bot on two cores. A card takes reactions
  from `REACTION_DELAY` after it appeared, once the bot has stored its picks (the bot
  drops a reaction that comes before; the report counts the cards that were not stored
  by then, and samples the writer's backlog). At the end the feedback table must hold one
  row per distinct (member, card, emoji).
- **Swap**, half way: v2 is activated in the registry (one transaction, through the bot's
  feedback writer, SQLite's one writer while reactions pour in) and the Admin
  cog's `_reload_engine` runs, what the bot does after a promotion (`engine.reload()`);
  timed, with a loop-lag probe of its own for the longest stall.
- **Reaction visible** (`reaction_visible_ms`): one probe after another during the
  window: a random member runs `/recommend` and, once the bot has stored the card's picks,
  reacts 👍 on it; from then on every ~50 ms they check whether their latest `/recommend`
  has answered, and if it has and the reaction does not show yet, they run `/recommend`
  again. Shows means `bot.engine.member_state(id).tracks` holds the track (the engine's
  own view) or, for an engine without `member_state`, that the database holds the row
  (the report says which). The time is from the reaction to the first answered
  `/recommend` after which it shows (to ~50 ms). A probe still running when the window
  ends is dropped; one that does not see it within PROBE_TIMEOUT counts as timed out, and
  then the target takes the timeout as its p99.
- **Harness** (`harness_ms`): one `/help` after another (HARNESS_GAP apart, about 4 a
  second besides the load) from random members, timed like every command. `/help` reads
  nothing and computes nothing: one message with an embed. So its time is what the
  process charges any command under this load (discord.py's dispatch and response, SimCord's
  simulated Discord, the loop's queue), the least a `/recommend` could take here.
- **Loop lag**: `LoopLagProbe` (a thread posting to the loop every 5 ms) over the window,
  each callback late against the time it was due: a stall in which another thread keeps
  the GIL (a full garbage collection, a swap's C loops) counts too.
- **Floor** (`floor_ms`): after the window, in the same process, one product of the
  active ALS's item factors (float32, as stored) with a member's factors and a top 10 by
  `np.argpartition`, as many times as `/recommend` ran, with one BLAS thread as the engine
  scores: the least any scoring of this model can cost. `floor_float64_ms` is the same
  in float64, the precision the engine scored in before it moved to float32.
- **Memory** (`rss_mib`): this process's peak resident memory (VmHWM; ru_maxrss off
  Linux): the bot, SimCord and the harness.
- **CPU** (`cpu`): the process's CPU time over the window, all threads (`seconds`), and
  that over the window's length (`cores`). The work is fixed by the options, so this is
  steadier than latency on a shared machine; a figure near 1 core while latency grows
  says the threads wait for one another (the GIL), not for the machine.
- **Cache**: `bot.engine.member_cache_stats()` when the engine has it; `--cache-size`
  sets `member_cache_size` in the bot's settings when Settings has that field.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import faulthandler
import hashlib
import inspect
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bot.settings import Settings

Say = Callable[[str], None]

# --- what the issue fixes ------------------------------------------------------------------

CATALOG_ROWS = 114_000
COMMAND_RATE = 20.0
REACTION_RATE = 200.0
RECOMMEND_SHARE = 0.7
RECOMMEND_COUNT = 5
TARGET_ROWS = 2_000_000
TARGET_MEMBERS = 50_000
# ALS as docs/simulation.md fits it: every hyperparameter given, so no search.
ALS_FIXED: dict[str, Any] = {
    "factors": 64,
    "regularization": 1.0,
    "alpha": 10.0,
    "scaling": "log",
    "iterations": 15,
}
ALS_THREADS = 2

# --- how the feedback is made (module docstring) -------------------------------------------

KINDS = ("like", "love", "skip", "dislike")
KIND_SHARES = (0.70, 0.10, 0.12, 0.08)
MIN_TASTE_TRACKS = 5
HISTORY_DAYS = 365
INSERT_CHUNK = 100_000
SIMILAR_POOL = 5_000  # popularity-weighted tracks the /similar commands draw from
PREPARE_FORMAT = 1  # part of the cache key: bump when the prepared data changes
PLAYLISTS = Path("spotify_catalog") / "spotify_songs.zip"
LASTFM = Path("lastfm_hetrec2k")

# --- the load ------------------------------------------------------------------------------

# Reactions on cards: 👍 like, ❤️ love, ⏭️ skip, 👎 dislike (bot/exts/feedback.py).
REACTION_SHARES = {"👍": 0.55, "❤️": 0.15, "⏭️": 0.20, "👎": 0.10}
REACTION_TICK = 0.01  # seconds between reaction batches
CARD_CHECK = 0.2  # seconds between looks for new cards
# A card takes reactions from this long after it appeared (people read before they react),
# and only once the bot has stored its picks: a reaction that comes earlier finds no card
# and is dropped (bot/ui/cards.py stores the picks after sending the card). The report
# counts the cards whose picks were not stored yet when they were this old.
REACTION_DELAY = 1.0
PROBE_POLL = 0.05  # the visibility probe checks (and asks again) every ~50 ms
PROBE_TIMEOUT = 10.0
PROBE_GAP = 0.5  # between two visibility probes
HARNESS_GAP = 0.25  # between two /help of the harness probe
ANSWER_TIMEOUT = 30.0
STORE_QUIET = 10.0
# Real seconds SimCord may take to settle (every interaction answered, the bot idle), and
# the harness's tasks to end, after the window; past it the run reports what was stuck and
# prints every thread's stack (faulthandler) rather than wait on.
SETTLE_TIMEOUT = 300.0

RECOMMEND = "command recommend"
SIMILAR = "command similar"
AUTOCOMPLETE = "autocomplete similar"
COMPUTE = "compute recommend"
HARNESS = "command help"


class ServingBenchError(Exception):
    """The benchmark cannot go on; the message says why in one line."""


@dataclass(frozen=True)
class BenchOptions:
    rows: int = TARGET_ROWS
    members: int = TARGET_MEMBERS
    duration: float = 60.0
    catalog: Path | None = None
    cache_size: int | None = None
    rate: float = COMMAND_RATE
    reaction_rate: float = REACTION_RATE
    seed: int = 0
    command: str = "earworm bench serving"


# --- the catalog's copies ------------------------------------------------------------------


def copy_layers(ids: Sequence[str]) -> np.ndarray:
    """Layers x originals: row 0 the catalog positions of the originals (tracks that are no
    copy), row c the position of each original's copy c (bot/bench/catalog.py `copy_id`),
    -1 where it has none. A catalog without copies has one row."""
    from bot.bench.catalog import copy_id

    position = {track: index for index, track in enumerate(ids)}
    is_copy = np.zeros(len(ids), dtype=bool)
    found_layers: list[dict[int, int]] = []
    copy = 1
    while True:
        found = {}
        for index, track in enumerate(ids):
            if not is_copy[index]:
                other = position.get(copy_id(track, copy))
                if other is not None:
                    found[index] = other
        if not found:
            break
        for other in found.values():
            is_copy[other] = True
        found_layers.append(found)
        copy += 1
    originals = np.flatnonzero(~is_copy)
    layers = np.full((1 + len(found_layers), len(originals)), -1, dtype=np.int64)
    layers[0] = originals
    for row, found in enumerate(found_layers, start=1):
        for column, original in enumerate(originals.tolist()):
            layers[row, column] = found.get(original, -1)
    return layers


# --- tastes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taste:
    source: str  # "playlist" or "lastfm"
    tracks: np.ndarray  # int64 columns of the copy layers (originals)
    weights: np.ndarray  # float64, > 0


def normalise_artist(name: str) -> str:
    """'The Beatles' -> 'beatles', 'Beyoncé' -> 'beyonce', 'AC/DC' -> 'ac dc'."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = re.sub(r"[\W_]+", " ", folded).strip()
    return folded[4:] if folded.startswith("the ") else folded


def playlist_tastes(path: Path, column_of: dict[str, int]) -> list[Taste]:
    """One taste per TidyTuesday playlist: its tracks that are catalog originals."""
    from bot.demo.session import read_playlists

    tastes = []
    for playlist in read_playlists(path):
        columns = sorted({column_of[t] for t in playlist.tracks if t in column_of})
        if len(columns) >= MIN_TASTE_TRACKS:
            tracks = np.asarray(columns, dtype=np.int64)
            tastes.append(Taste("playlist", tracks, np.ones(len(tracks))))
    return tastes


def read_lastfm(folder: Path) -> tuple[dict[int, str], dict[int, list[tuple[int, int]]]]:
    """HetRec 2K: artist id -> name, and user id -> [(artist id, plays)] in file order."""
    names: dict[int, str] = {}
    with (folder / "artists.dat").open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for row in reader:
            names[int(row[0])] = row[1]
    users: dict[int, list[tuple[int, int]]] = {}
    with (folder / "user_artists.dat").open(encoding="utf-8") as stream:
        next(stream)
        for line in stream:
            user, artist, plays = (int(part) for part in line.split())
            users.setdefault(user, []).append((artist, plays))
    return names, users


def lastfm_tastes(folder: Path, columns_by_artist: dict[str, list[int]]) -> list[Taste]:
    """One taste per Last.fm user: the originals by their artists, each artist's tracks
    together weighing the user's plays of that artist."""
    names, users = read_lastfm(folder)
    tastes = []
    for listened in users.values():
        columns: list[int] = []
        weights: list[float] = []
        for artist, plays in listened:
            tracks = columns_by_artist.get(normalise_artist(names.get(artist, "")), [])
            if not tracks:
                continue
            columns.extend(tracks)
            weights.extend([plays / len(tracks)] * len(tracks))
        if not columns:
            continue
        unique, inverse = np.unique(np.asarray(columns, dtype=np.int64), return_inverse=True)
        summed = np.bincount(inverse, weights=np.asarray(weights, dtype=float))
        if len(unique) >= MIN_TASTE_TRACKS:
            tastes.append(Taste("lastfm", unique, summed))
    return tastes


def columns_by_artist(
    artists: Sequence[Sequence[str]], originals: np.ndarray
) -> dict[str, list[int]]:
    """Normalised artist name -> the layer columns of the originals they play on."""
    index: dict[str, list[int]] = {}
    for column, position in enumerate(originals.tolist()):
        for artist in dict.fromkeys(normalise_artist(a) for a in artists[position]):
            if artist:
                index.setdefault(artist, []).append(column)
    return index


# --- the rows ------------------------------------------------------------------------------


@dataclass
class RowPlan:
    """The feedback to store, column-wise: member number, catalog position, kind (index
    into KINDS), age in seconds."""

    members: np.ndarray
    positions: np.ndarray
    kinds: np.ndarray
    seconds_ago: np.ndarray
    # Where the rows came from: per taste source, members and rows by origin.
    origins: dict[str, dict[str, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.members)


def _weighted_sample(rng: np.random.Generator, weights: np.ndarray, count: int) -> np.ndarray:
    """`count` distinct indices drawn without replacement with `weights` (Efraimidis &
    Spirakis: the largest keys log(u) / w)."""
    if count >= len(weights):
        return np.arange(len(weights))
    keys = np.log(rng.random(len(weights))) / weights
    return np.argpartition(-keys, count - 1)[:count]


def plan_rows(
    tastes: Sequence[Taste],
    layers: np.ndarray,
    popularity: np.ndarray,
    rows: int,
    members: int,
    seed: int,
) -> RowPlan:
    """The rows of the module docstring's step 4, exactly `rows` of them."""
    if not tastes:
        raise ServingBenchError("no taste maps onto this catalog (no playlist or listener)")
    rng = np.random.default_rng(seed)
    layer_count, originals = layers.shape
    # Skips and dislikes: originals drawn by popularity (+1, so every track can be drawn).
    cumulative = np.cumsum(np.nan_to_num(popularity[layers[0]], nan=0.0) + 1.0)
    cumulative /= cumulative[-1]
    base, extra = divmod(rows, members)
    per_member = np.full(members, base, dtype=np.int64)
    per_member[:extra] += 1
    counts = rng.multinomial(per_member, KIND_SHARES) if members else np.zeros((0, 4), int)

    member_parts: list[np.ndarray] = []
    position_parts: list[np.ndarray] = []
    kind_parts: list[np.ndarray] = []
    origins: dict[str, dict[str, int]] = {}
    for member in range(members):
        taste_number = member % len(tastes)
        taste = tastes[taste_number]
        layer = (member // len(tastes)) % layer_count
        likes, loves, skips, dislikes = (int(n) for n in counts[member])
        origin = origins.setdefault(
            taste.source,
            {"members": 0, "taste": 0, "other_versions": 0, "next_tastes": 0, "popular": 0},
        )
        origin["members"] += 1

        # Positives: the member's own taste on their layer first (module docstring).
        wanted = likes + loves
        own = _weighted_sample(rng, taste.weights, min(wanted, len(taste.tracks)))
        parts = [_positions(layers, layer, taste.tracks[own])]
        part_weights = [taste.weights[own]]
        origin["taste"] += len(own)
        missing = wanted - len(own)
        if missing > 0:
            taken = set(_positions(layers, layer, taste.tracks).tolist())
            extensions = _extensions(tastes, taste_number, layers, layer)
            for name, candidates in extensions:
                fresh = [p for p in candidates.tolist() if p >= 0 and p not in taken][:missing]
                taken.update(fresh)
                parts.append(np.asarray(fresh, dtype=np.int64))
                part_weights.append(np.zeros(len(fresh)))
                origin[name] += len(fresh)
                missing -= len(fresh)
                if missing <= 0:
                    break
            if missing > 0:
                raise ServingBenchError(
                    f"the tastes hold too few tracks for {wanted} positive rows a member; "
                    "use more --members or fewer --rows"
                )
        positive = np.concatenate(parts)
        weights = np.concatenate(part_weights)
        # The heaviest are loved; ties (a playlist weighs every track 1) broken at random.
        order = np.lexsort((rng.random(len(weights)), -weights))
        kinds = np.zeros(len(positive), dtype=np.int8)
        kinds[order[:loves]] = KINDS.index("love")

        # Negatives: popular originals outside the taste, on the member's layer.
        negatives = skips + dislikes
        excluded = set(positive.tolist())
        picked: list[int] = []
        while len(picked) < negatives:
            draws = np.searchsorted(cumulative, rng.random(2 * negatives + 8), side="right")
            columns = np.minimum(draws, originals - 1)
            for position in _positions(layers, layer, columns).tolist():
                if position not in excluded:
                    excluded.add(position)
                    picked.append(position)
                    if len(picked) == negatives:
                        break
            if len(excluded) >= len(popularity):
                raise ServingBenchError("the catalog is too small for the rows asked for")
        origin["popular"] += negatives
        negative_kinds = np.asarray(
            [KINDS.index("skip")] * skips + [KINDS.index("dislike")] * dislikes, dtype=np.int8
        )
        rng.shuffle(negative_kinds)

        member_parts.append(np.full(len(positive) + negatives, member, dtype=np.int32))
        position_parts.append(np.concatenate([positive, np.asarray(picked, dtype=np.int64)]))
        kind_parts.append(np.concatenate([kinds, negative_kinds]))

    plan = RowPlan(
        members=np.concatenate(member_parts) if member_parts else np.zeros(0, np.int32),
        positions=np.concatenate(position_parts) if position_parts else np.zeros(0, np.int64),
        kinds=np.concatenate(kind_parts) if kind_parts else np.zeros(0, np.int8),
        seconds_ago=np.zeros(0),
        origins=origins,
    )
    plan.seconds_ago = rng.uniform(0, HISTORY_DAYS * 86_400, size=len(plan.members))
    for origin in origins.values():
        origin["rows"] = origin["taste"] + origin["other_versions"] + origin["next_tastes"]
        origin["rows"] += origin["popular"]
    return plan


def _extensions(
    tastes: Sequence[Taste], taste_number: int, layers: np.ndarray, layer: int
) -> Iterator[tuple[str, np.ndarray]]:
    """Where a taste too small for its member continues: the same songs on the other copy
    layers, then the next tastes on the member's layer (catalog positions, -1 for none)."""
    tracks = tastes[taste_number].tracks
    for other in range(layers.shape[0]):
        if other != layer:
            yield "other_versions", layers[other, tracks]
    for step in range(1, len(tastes)):
        neighbour = tastes[(taste_number + step) % len(tastes)]
        yield "next_tastes", _positions(layers, layer, neighbour.tracks)


def _positions(layers: np.ndarray, layer: int, columns: np.ndarray) -> np.ndarray:
    """Catalog positions of these originals on `layer`: the copy, else the original."""
    copies = layers[layer, columns]
    return np.where(copies >= 0, copies, layers[0, columns])


# --- the SimCord server --------------------------------------------------------------------


def simulated_server(env: Any, members: int) -> tuple[Any, Any, list[Any]]:
    """The guild, its channel and `members` members, created before the bot starts and
    always in this order, so SimCord gives them the same ids every time (module docstring)."""
    guild = env.create_guild("Benchmark")
    channel = guild.create_text_channel("music")
    actors = [guild.add_member(env.create_user(f"member{n}")) for n in range(members)]
    return guild, channel, actors


# --- preparation (in a child process) ------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    folder: Path
    meta: dict[str, Any]
    reused: bool

    @property
    def member_ids(self) -> list[int]:
        return [int(member) for member in self.meta["member_ids"]]


def cache_key(options: BenchOptions) -> str:
    if options.catalog is None:
        catalog = f"derived{CATALOG_ROWS}"
    else:
        digest = hashlib.sha256()
        with options.catalog.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        catalog = f"file-{digest.hexdigest()[:12]}"
    return f"f{PREPARE_FORMAT}-r{options.rows}-m{options.members}-s{options.seed}-{catalog}"


def cache_folder(settings: Settings, options: BenchOptions) -> Path:
    return (settings.data_dir / "bench" / "serving" / cache_key(options)).resolve()


def ensure_prepared(settings: Settings, options: BenchOptions, say: Say) -> Prepared:
    """The prepared folder for these options: reused when complete, else made by a child
    process (`python -m bot.bench.serving`), which reports its progress on stderr."""
    folder = cache_folder(settings, options)
    meta_path = folder / "prepared.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("complete"):
            say(f"reusing the data prepared in {folder}")
            return Prepared(folder, meta, reused=True)
    say(f"preparing the data in {folder} (once for these options) ...")
    task = {
        "folder": str(folder),
        "shared_data_dir": str(settings.shared_data_dir.resolve()),
        "catalog": str(options.catalog.resolve()) if options.catalog else None,
        "rows": options.rows,
        "members": options.members,
        "seed": options.seed,
    }
    child = subprocess.run(
        [sys.executable, "-m", "bot.bench.serving", json.dumps(task)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    lines = child.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if lines else {}
    if child.returncode != 0 or "error" in answer or not meta_path.is_file():
        reason = answer.get("error") or f"exited with status {child.returncode}"
        raise ServingBenchError(f"preparing the data failed: {reason}")
    return Prepared(folder, json.loads(meta_path.read_text()), reused=False)


@contextlib.contextmanager
def scratch_copy(settings: Settings, folder: Path) -> Iterator[Settings]:
    """Settings for a temporary data directory holding a copy of the prepared database;
    the content model's cache is shared through a link, and the registered artifacts keep
    their absolute paths in the prepared folder."""
    content = folder / "models" / "content"
    content.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="earworm-serving-", dir=folder.parent) as scratch:
        data_dir = Path(scratch)
        shutil.copyfile(folder / "earworm.db", data_dir / "earworm.db")
        (data_dir / "models").mkdir()
        (data_dir / "models" / "content").symlink_to(content, target_is_directory=True)
        yield settings.model_copy(update={"data_dir": data_dir, "database_url": None})


def _bot_settings(settings: Settings, cache_size: int | None) -> tuple[Settings, str]:
    """The bot's settings: no cooldowns (this measures serving), the member cache size when
    asked and Settings has the field; and a note on the cache size."""
    update: dict[str, Any] = {"cooldown_seconds": 0.0}
    if cache_size is None:
        note = "the default"
    elif "member_cache_size" in type(settings).model_fields:
        update["member_cache_size"] = cache_size
        note = f"member_cache_size={cache_size}"
    else:
        note = f"--cache-size {cache_size} ignored: Settings has no member_cache_size"
    return settings.model_copy(update=update), note


async def prepare(task: dict[str, Any], say: Say) -> dict[str, Any]:
    """Make the prepared folder (module docstring); returns what prepared.json holds."""
    from simcord import Env

    from bot.app import create_bot
    from bot.bench.catalog import derive_catalog, load_real_tracks, write_kaggle_csv
    from bot.composition import database_for
    from bot.settings import load_settings
    from storage.catalog.importer import import_catalog
    from storage.repositories.snapshots import catalog_rows

    folder = Path(task["folder"])
    shared = Path(task["shared_data_dir"])
    rows, members, seed = int(task["rows"]), int(task["members"]), int(task["seed"])
    settings = load_settings().model_copy(
        update={"data_dir": folder, "database_url": None, "shared_data_dir": shared}
    )
    seconds: dict[str, float] = {}
    for needed in (PLAYLISTS, LASTFM / "user_artists.dat", LASTFM / "artists.dat"):
        if not (shared / needed).is_file():
            raise ServingBenchError(f"{shared / needed} is missing; set EARWORM_SHARED_DATA")

    started = time.perf_counter()
    if task["catalog"]:
        source = Path(task["catalog"])
        made = None
    else:
        say(f"deriving the {CATALOG_ROWS:,}-row catalog from {shared / 'spotify_catalog'} ...")
        derived = derive_catalog(load_real_tracks(shared / "spotify_catalog"), CATALOG_ROWS, seed)
        source = made = write_kaggle_csv(folder / "catalog.csv", derived.rows)
        del derived
    say(f"importing {source.name} ...")
    async with database_for(settings) as database:
        await import_catalog(database, [str(source)], download_dir=folder / "dl", progress=False)
        async with database.sessions() as session:
            catalog = await catalog_rows(session)
    if made is not None:
        made.unlink()
    shutil.rmtree(folder / "dl", ignore_errors=True)
    seconds["catalog"] = time.perf_counter() - started

    started = time.perf_counter()
    say("finding the catalog's copies and mapping the tastes onto it ...")
    layers = copy_layers(catalog.ids)
    originals = layers[0]
    column_of = {catalog.ids[p]: c for c, p in enumerate(originals.tolist())}
    playlists = playlist_tastes(shared / PLAYLISTS, column_of)
    listeners = lastfm_tastes(shared / LASTFM, columns_by_artist(catalog.artists, originals))
    tastes = playlists + listeners
    order = np.random.default_rng(seed).permutation(len(tastes))
    tastes = [tastes[i] for i in order]
    popularity = np.asarray([np.nan if p is None else p for p in catalog.popularity], float)
    say(f"planning {rows:,} rows for {members:,} members from {len(tastes):,} tastes ...")
    plan = plan_rows(tastes, layers, popularity, rows, members, seed)
    seconds["plan"] = time.perf_counter() - started

    # The member ids SimCord will hand out (module docstring, step 5).
    env = Env(create_bot(settings), settle_timeout=SETTLE_TIMEOUT)
    guild, _, actors = simulated_server(env, members)
    member_ids = [actor.id for actor in actors]
    guild_id = guild.id
    del env, actors

    started = time.perf_counter()
    stored = await store_plan(settings, plan, catalog.ids, member_ids, guild_id, say)
    seconds["insert"] = time.perf_counter() - started

    versions = []
    for number, model_seed in enumerate((seed, seed + 1), start=1):
        say(f"fitting ALS v{number} (seed {model_seed}) on {len(plan):,} rows ...")
        started = time.perf_counter()
        versions.append(await fit_and_register(settings, plan, catalog, member_ids, model_seed))
        seconds[f"fit_v{number}"] = time.perf_counter() - started

    say("starting the bot once (caches keyed by the catalog) ...")
    started = time.perf_counter()
    await warm_start(settings, folder)
    seconds["warm_start"] = time.perf_counter() - started

    similar_pool = _similar_pool(catalog.ids, catalog.names, popularity, seed)
    return {
        "complete": True,
        "format": PREPARE_FORMAT,
        "rows": rows,
        "rows_stored": stored,
        "members": members,
        "seed": seed,
        "tracks": len(catalog.ids),
        "catalog": task["catalog"] or f"derived {CATALOG_ROWS:,}-row Kaggle-format file",
        "copy_layers": int(layers.shape[0]),
        "originals": int(layers.shape[1]),
        "tastes": {
            "playlist": len(playlists),
            "lastfm": len(listeners),
        },
        "origins": plan.origins,
        "kinds": {kind: int((plan.kinds == i).sum()) for i, kind in enumerate(KINDS)},
        "als": versions,
        "guild_id": guild_id,
        "member_ids": member_ids,
        "similar_pool": similar_pool,
        "seconds": {name: round(value, 3) for name, value in seconds.items()},
        "prepared_at": datetime.now(UTC).isoformat(),
    }


def _similar_pool(
    ids: Sequence[str], names: Sequence[str], popularity: np.ndarray, seed: int
) -> list[list[str]]:
    """Popularity-weighted (+1) catalog tracks, (id, name): what /similar asks about."""
    weights = np.nan_to_num(popularity, nan=0.0) + 1.0
    rng = np.random.default_rng(seed + 7)
    drawn = rng.choice(len(ids), size=min(SIMILAR_POOL, len(ids)), p=weights / weights.sum())
    return [[ids[i], names[i]] for i in drawn.tolist()]


async def store_plan(
    settings: Settings,
    plan: RowPlan,
    track_ids: Sequence[str],
    member_ids: Sequence[int],
    guild_id: int,
    say: Say,
) -> int:
    """Insert the planned rows in chunks (one commit each); how many were new."""
    from bot.composition import database_for
    from storage.models import FeedbackKind, FeedbackSource
    from storage.repositories.feedback import FeedbackEvent
    from storage.repositories.feedback_import import import_feedback

    kinds = [FeedbackKind(kind) for kind in KINDS]
    now = datetime.now(UTC)
    stored = 0
    async with database_for(settings) as database:
        for start in range(0, len(plan), INSERT_CHUNK):
            stop = min(start + INSERT_CHUNK, len(plan))
            say(f"inserting rows {start:,}-{stop:,} of {len(plan):,} ...")
            events = [
                FeedbackEvent(
                    user_id=member_ids[member],
                    guild_id=guild_id,
                    track_id=track_ids[position],
                    kind=kinds[kind],
                    source=FeedbackSource.IMPORT,
                    created_at=now - timedelta(seconds=age),
                )
                for member, position, kind, age in zip(
                    plan.members[start:stop].tolist(),
                    plan.positions[start:stop].tolist(),
                    plan.kinds[start:stop].tolist(),
                    plan.seconds_ago[start:stop].tolist(),
                    strict=True,
                )
            ]
            async with database.sessions() as session:
                stored += await import_feedback(session, events)
                await session.commit()
    return stored


async def fit_and_register(
    settings: Settings, plan: RowPlan, catalog: Any, member_ids: Sequence[int], seed: int
) -> dict[str, Any]:
    """ALS with ALS_FIXED on the planned rows (weighted as the bot weighs feedback), saved
    where the learning loop keeps artifacts and registered: the first version active, the
    next ones candidates."""
    from bot.composition import database_for
    from bot.learning.training import artifact_dir
    from bot.serving.catalog import item_catalog
    from recommender.als import ALS
    from recommender.data import Interactions
    from recommender.feedback import feedback_weight
    from storage.models import ModelStatus
    from storage.repositories.registry import active_model, finish_model, register_model

    ids = np.asarray(catalog.ids, dtype=np.str_)
    users = np.asarray([str(member) for member in member_ids], dtype=np.str_)
    weights = np.asarray([feedback_weight(kind) for kind in KINDS])
    now = int(time.time())
    rows = Interactions(
        users=users[plan.members],
        items=ids[plan.positions],
        weights=weights[plan.kinds],
        timestamps=(now - plan.seconds_ago).astype(np.int64),
    )
    model = ALS(seed=seed, threads=ALS_THREADS, **ALS_FIXED)
    started = time.perf_counter()
    await asyncio.to_thread(model.fit, rows, item_catalog(catalog))
    fit_seconds = time.perf_counter() - started
    async with database_for(settings) as database, database.sessions() as session:
        status = ModelStatus.CANDIDATE if await active_model(session, "als") else ModelStatus.ACTIVE
        record = await register_model(
            session,
            "als",
            status=ModelStatus.TRAINING,
            trained_at=None,
            training_rows=None,
            metrics={},
            artifact_path=None,
        )
        path = artifact_dir(settings, "als", record.version)
        await asyncio.to_thread(model.save, path)
        await finish_model(
            session,
            "als",
            record.version,
            status=status,
            trained_at=datetime.now(UTC),
            training_rows=len(rows),
            metrics={"fit_seconds": round(fit_seconds, 3), "seed": seed},
            artifact_path=str(path),
            note="earworm bench serving: fixed hyperparameters, no evaluation",
        )
        await session.commit()
    return {
        "version": record.version,
        "status": status.value,
        "seed": seed,
        "artifact": str(path),
        "fit_seconds": round(fit_seconds, 3),
    }


async def warm_start(settings: Settings, folder: Path) -> None:
    """Start the bot once on a scratch copy and ask for one pick: what it caches in the
    data directory keyed by the catalog (the content model) is then there for the runs."""
    from simcord import Env

    from bot.app import create_bot

    with scratch_copy(settings, folder) as copy:
        bot = create_bot(_bot_settings(copy, None)[0])
        env = Env(bot, settle_timeout=SETTLE_TIMEOUT)
        _, channel, actors = simulated_server(env, 1)
        await env.start()
        try:
            await actors[0].slash(channel, "recommend", count=RECOMMEND_COUNT)
        finally:
            await env.shutdown()


def prepare_main(argv: Sequence[str]) -> int:
    """The child process: prepare, write prepared.json, print one JSON line."""
    from bot.logs import configure_logging
    from bot.settings import load_settings
    from storage.errors import StorageError

    task = json.loads(argv[0])
    configure_logging(load_settings())
    folder = Path(task["folder"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    def say(step: str) -> None:
        print(f"... {step}", file=sys.stderr, flush=True)

    try:
        meta = asyncio.run(prepare(task, say))
    except (ServingBenchError, StorageError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    (folder / "prepared.json").write_text(json.dumps(meta) + "\n")
    print(json.dumps({"ok": True}))
    return 0


# --- the run -------------------------------------------------------------------------------


def answer_of(result: Any) -> tuple[bool, Any | None]:
    """Whether SimCord saw the bot answer this interaction, and the card it posted (a
    public message with an embed; None for a private reply or no card)."""
    messages = [message for message in (result.response, *result.followups) if message]
    for message in reversed(messages):
        if message.embeds:
            return True, None if message.ephemeral else message
    return any(message.content for message in messages), None


@dataclass
class Window:
    """What the harness saw during the measured window."""

    pending: list[Any] = field(default_factory=list)  # results whose card may come
    appeared: list[tuple[float, int, int]] = field(default_factory=list)  # (when, channel, id)
    cards: list[tuple[int, int]] = field(default_factory=list)  # (channel id, message id)
    commands: dict[str, int] = field(
        default_factory=lambda: {
            "recommend": 0,
            "similar": 0,
            "autocomplete": 0,
            "probe": 0,
            "help": 0,
        }
    )
    reactions: int = 0
    probe_reactions: int = 0
    # Cards whose picks were not stored yet REACTION_DELAY after they appeared.
    late_cards: set[int] = field(default_factory=set)
    writer_queue: list[int] = field(default_factory=list)  # the writer's backlog, sampled
    reaction_keys: set[tuple[int, int, str]] = field(default_factory=set)
    visible_ms: list[float] = field(default_factory=list)
    visible_timeouts: int = 0
    visible_source: str | None = None
    swap: dict[str, Any] | None = None
    max_lag: float = 0.0

    def observe_lag(self, lag: float) -> None:
        self.max_lag = max(self.max_lag, lag)

    def harvest(self, now: float) -> None:
        """Note when each answered interaction's card appeared."""
        still = []
        for result in self.pending:
            answered, card = answer_of(result)
            if not answered:
                still.append(result)
            elif card is not None:
                self.appeared.append((now, card.channel_id, card.id))
        self.pending = still


def reaction_payload(
    guild_id: int, channel_id: int, message_id: int, user_id: int, emoji: str
) -> dict[str, Any]:
    """MESSAGE_REACTION_ADD as the gateway sends it (bot/bench/bot_load.py)."""
    return {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "guild_id": str(guild_id),
        "emoji": {"id": None, "name": emoji},
        "burst": False,
        "type": 0,
    }


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds` of real time, or until `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@dataclass
class ServingRun:
    """The measured window: commands, reactions, visibility probes and the swap."""

    bot: Any
    channel: Any
    guild_id: int
    actors: list[Any]
    options: BenchOptions
    similar_pool: list[list[str]]
    swap_to: int
    window: Window = field(default_factory=Window)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def commands(self) -> None:
        """Open-loop arrivals at seeded exponential gaps (module docstring)."""
        rng = random.Random(self.options.seed)
        started, due = time.perf_counter(), 0.0
        while not self.stop.is_set():
            actor = rng.choice(self.actors)
            if rng.random() < RECOMMEND_SHARE:
                result = await actor.slash(self.channel, "recommend", count=RECOMMEND_COUNT)
                self.window.commands["recommend"] += 1
            else:
                track, name = rng.choice(self.similar_pool)
                typed = name.lower()[: rng.randint(3, 8)].strip() or name
                await actor.autocomplete(self.channel, "similar", "track", typed)
                result = await actor.slash(self.channel, "similar", track=track)
                self.window.commands["autocomplete"] += 1
                self.window.commands["similar"] += 1
            self.window.pending.append(result)
            due += rng.expovariate(self.options.rate)
            delay = started + due - time.perf_counter()
            if delay > 0:
                await _wait(self.stop, delay)

    async def cards(self) -> None:
        """Every CARD_CHECK seconds: note the cards answered interactions posted, let those
        REACTION_DELAY old whose picks the bot has stored take reactions, and sample the
        feedback writer's backlog (card picks wait in it behind reactions)."""
        while not self.stop.is_set():
            now = time.perf_counter()
            queued = getattr(getattr(self.bot, "writer", None), "queued", None)
            if isinstance(queued, int):
                self.window.writer_queue.append(queued)
            self.window.harvest(now)
            await self._ripen(now)
            await _wait(self.stop, CARD_CHECK)

    async def reactions(self) -> None:
        """`reaction_rate` reactions a second from random members on posted cards, into
        discord.py's gateway parser (module docstring)."""
        rng = random.Random(self.options.seed + 1)
        emojis, shares = list(REACTION_SHARES), list(REACTION_SHARES.values())
        ids = [actor.id for actor in self.actors]
        parse = self.bot._connection.parse_message_reaction_add
        started, sent = time.perf_counter(), 0
        while not self.stop.is_set():
            due = int((time.perf_counter() - started) * self.options.reaction_rate) - sent
            if due > 0 and self.window.cards:
                for _ in range(due):
                    channel_id, message_id = rng.choice(self.window.cards)
                    user = rng.choice(ids)
                    emoji = rng.choices(emojis, shares)[0]
                    parse(reaction_payload(self.guild_id, channel_id, message_id, user, emoji))
                    self.window.reaction_keys.add((user, message_id, emoji))
                self.window.reactions += due
            sent += max(due, 0)
            await asyncio.sleep(REACTION_TICK)

    async def _ripen(self, now: float) -> None:
        """Cards that appeared REACTION_DELAY ago and whose picks are stored join the pool
        (one query for all of them)."""
        from sqlalchemy import select

        from storage.models import RecommendationServed

        old = [entry for entry in self.window.appeared if now - entry[0] >= REACTION_DELAY]
        if not old:
            return
        wanted = [message_id for _, _, message_id in old]
        async with self.bot.database.sessions() as session:
            stored = set(
                await session.scalars(
                    select(RecommendationServed.message_id)
                    .where(RecommendationServed.message_id.in_(wanted))
                    .distinct()
                )
            )
        waiting = [entry for entry in self.window.appeared if now - entry[0] < REACTION_DELAY]
        for entry in old:
            if entry[2] in stored:
                self.window.cards.append((entry[1], entry[2]))
            else:
                self.window.late_cards.add(entry[2])
                waiting.append(entry)
        self.window.appeared = waiting

    async def probes(self) -> None:
        """Visibility probes, one after another, until the window ends."""
        rng = random.Random(self.options.seed + 2)
        while not self.stop.is_set():
            await self._probe(rng.choice(self.actors))
            await _wait(self.stop, PROBE_GAP)

    async def harness(self) -> None:
        """`/help`, one after another, until the window ends: a command that reads
        nothing and computes nothing, so its time is what any command costs in this
        process under this load (module docstring, `harness_ms`)."""
        rng = random.Random(self.options.seed + 3)
        while not self.stop.is_set():
            await rng.choice(self.actors).slash(self.channel, "help")
            self.window.commands["help"] += 1
            await _wait(self.stop, HARNESS_GAP)

    async def _probe(self, actor: Any) -> None:
        first = await actor.slash(self.channel, "recommend", count=RECOMMEND_COUNT)
        self.window.commands["probe"] += 1
        card = await self._card_of(first)
        track = await self._shown_on(card.id) if card is not None else None
        if card is None or track is None:
            return
        reacted = time.perf_counter()
        self.bot._connection.parse_message_reaction_add(
            reaction_payload(self.guild_id, card.channel_id, card.id, actor.id, "👍")
        )
        self.window.reaction_keys.add((actor.id, card.id, "👍"))
        self.window.probe_reactions += 1
        latest = None
        while time.perf_counter() - reacted < PROBE_TIMEOUT:
            if self.stop.is_set():
                return  # the window ended: this sample is not taken
            if latest is None:
                latest = await actor.slash(self.channel, "recommend", count=RECOMMEND_COUNT)
                self.window.commands["probe"] += 1
            await asyncio.sleep(PROBE_POLL)
            if answer_of(latest)[0]:
                if await self._shows(actor.id, card.id, track):
                    self.window.visible_ms.append((time.perf_counter() - reacted) * 1000)
                    return
                latest = None
        self.window.visible_timeouts += 1

    async def _card_of(self, result: Any) -> Any | None:
        deadline = time.perf_counter() + ANSWER_TIMEOUT
        while time.perf_counter() < deadline and not self.stop.is_set():
            answered, card = answer_of(result)
            if answered:
                return card
            await asyncio.sleep(0.01)
        return None

    async def _shown_on(self, message_id: int) -> str | None:
        """The track a card shows once the bot has stored its picks; None if it has not
        within ANSWER_TIMEOUT (or the window ended)."""
        from storage.repositories.served import served_for_message

        deadline = time.perf_counter() + ANSWER_TIMEOUT
        while time.perf_counter() < deadline and not self.stop.is_set():
            async with self.bot.database.sessions() as session:
                items = await served_for_message(session, message_id)
            if items:
                return items[0].track_id
            await asyncio.sleep(0.01)
        return None

    async def _shows(self, user_id: int, message_id: int, track: str) -> bool:
        """Whether the reaction is in the engine's state for the member (member_state), or
        for an engine without it, stored in the database."""
        from storage.repositories.feedback import liked_on_message

        member_state = getattr(self.bot.engine, "member_state", None)
        if member_state is not None:
            state = await _maybe_await(member_state(user_id))
            return state is not None and track in state.tracks
        async with self.bot.database.sessions() as session:
            return await liked_on_message(session, user_id, message_id, track)

    async def swap(self) -> None:
        """Half way: activate the other ALS version in the registry and reload the engine
        as the Admin cog does after a promotion (`_reload_engine`); timed."""
        from bot.http.timings import LoopLagProbe
        from storage.repositories.registry import activate

        await _wait(self.stop, self.options.duration / 2)
        # Through the bot's single writer: a transaction of our own would wait for SQLite's
        # write lock behind the reactions' (and fail with "database is locked").
        await self.bot.writer.run(lambda session: activate(session, "als", self.swap_to))
        admin = self.bot.get_cog("Admin")
        reload = getattr(admin, "_reload_engine", None) or self.bot.engine.reload
        probe = LoopLagProbe(asyncio.get_running_loop())
        probe.start()
        started = time.perf_counter()
        await reload()
        seconds = time.perf_counter() - started
        await asyncio.sleep(0.02)  # the probe's last callbacks run
        probe.stop()
        lag = probe.summary()
        self.window.swap = {
            "duration": round(seconds * 1000, 3),
            "longest_stall": _round(lag.max_ms),
            "to_version": self.swap_to,
            "via": "Admin._reload_engine" if admin is not None else "engine.reload",
            "at_seconds": round(self.options.duration / 2, 3),
        }


async def run_serving_bench(
    settings: Settings, options: BenchOptions, prepared: Prepared, say: Say
) -> dict[str, Any]:
    """The run of the module docstring on `settings` (a scratch copy of the prepared
    database); every figure of the report."""
    from simcord import Env

    from bot.app import create_bot
    from bot.bench.bot_load import in_flight_together, lean_virtual_clock
    from bot.http.timings import LoopLagProbe

    meta = prepared.meta
    load_at_start = os.getloadavg()
    bot_settings, cache_note = _bot_settings(settings, options.cache_size)
    began = time.perf_counter()
    bot = create_bot(bot_settings)
    create_seconds = time.perf_counter() - began
    env = Env(bot, settle_timeout=SETTLE_TIMEOUT)
    guild, channel, actors = simulated_server(env, options.members)
    if [actor.id for actor in actors] != prepared.member_ids:
        raise ServingBenchError(
            "SimCord gave the members other ids than when the data was prepared; "
            f"delete {prepared.folder} and run again"
        )
    say(f"starting the bot on {meta['rows_stored']:,} feedback rows ...")
    began = time.perf_counter()
    await env.start()
    try:
        first = await actors[0].slash(channel, "recommend", count=RECOMMEND_COUNT)
        startup_seconds = create_seconds + time.perf_counter() - began
        if answer_of(first)[1] is None:
            raise ServingBenchError("the first /recommend posted no card; see the bot's log")

        others = [v for v in meta["als"] if v["status"] != "active"]
        run = ServingRun(
            bot, channel, guild.id, actors, options, meta["similar_pool"], others[0]["version"]
        )
        run.window.visible_source = (
            "engine.member_state"
            if hasattr(bot.engine, "member_state")
            else "database (the engine has no member_state)"
        )
        say("warming up ...")
        for actor in actors[1:4]:
            run.window.pending.append(
                await actor.slash(channel, "recommend", count=RECOMMEND_COUNT)
            )
        track, name = meta["similar_pool"][0]
        await actors[0].autocomplete(channel, "similar", "track", name[:4].lower())
        run.window.pending.append(await actors[0].slash(channel, "similar", track=track))
        run.window.pending.append(first)
        run.window.harvest(time.perf_counter() - REACTION_DELAY)
        await run._ripen(time.perf_counter())
        bot.timings.clear()

        loop = asyncio.get_running_loop()
        probe = LoopLagProbe(loop, observe=run.window.observe_lag)
        say(
            f"{options.rate:g} commands/s and {options.reaction_rate:g} reactions/s from "
            f"{options.members:,} members for {options.duration:g} s, the swap half way ..."
        )
        unsettled = None
        # Every thread's stack on stderr if the end of the window hangs (for whoever
        # debugs the bot: a task that never ends keeps SimCord settling).
        faulthandler.dump_traceback_later(options.duration + 2 * SETTLE_TIMEOUT + 60)
        try:
            async with (
                lean_virtual_clock(env),
                in_flight_together(env, settle_within=SETTLE_TIMEOUT),
            ):
                probe.start()
                tasks = [
                    asyncio.create_task(part(), name=f"bench {part.__name__}")
                    for part in (
                        run.commands,
                        run.cards,
                        run.reactions,
                        run.probes,
                        run.harness,
                        run.swap,
                    )
                ]
                started, cpu_started = time.perf_counter(), time.process_time()
                await asyncio.sleep(options.duration)
                run.stop.set()
                window_seconds = time.perf_counter() - started
                cpu_seconds = time.process_time() - cpu_started
                loop_lag = probe.summary()
                probe.stop()
                try:
                    await asyncio.wait_for(asyncio.gather(*tasks), SETTLE_TIMEOUT)
                except TimeoutError:
                    unsettled = (
                        f"the harness's tasks had not ended {SETTLE_TIMEOUT:g} s after the "
                        f"window (the swap: {'done' if run.window.swap else 'not done'})"
                    )
                    say(unsettled)
                run.window.harvest(time.perf_counter())
                say(f"waiting for the {len(run.window.pending):,} interactions still in flight ...")
        except TimeoutError as exc:
            unsettled = f"the bot did not settle within {SETTLE_TIMEOUT:g} s: {exc}"[:2_000]
            say(unsettled)
        finally:
            faulthandler.cancel_dump_traceback_later()
        say("waiting for the feedback writer to store every reaction ...")
        stored = await _wait_for_reactions(bot, len(run.window.reaction_keys))

        latency = {name: bot.timings.summary(name) for name in bot.timings.names(stages=True)}
        recommend_count = latency[RECOMMEND].count if RECOMMEND in latency else 0
        say(f"timing the scoring floor {recommend_count:,} times ...")
        floor32, floor64 = time_floor(Path(others[0]["artifact"]), max(recommend_count, 1))
        cache_stats = getattr(bot.engine, "member_cache_stats", None)
        cache = await _maybe_await(cache_stats()) if cache_stats is not None else None
        model_calls = getattr(bot.engine, "model_calls", None)
        refused = getattr(model_calls, "refused", None)
    finally:
        try:
            await env.shutdown()
        except TimeoutError as exc:
            say(f"the bot did not shut down within {SETTLE_TIMEOUT:g} s: {str(exc)[:500]}")

    from bot.bench.catalog import machine
    from bot.bench.training import peak_memory_mib, resident_mib

    window = run.window
    compute = latency.get(COMPUTE)
    report: dict[str, Any] = {
        "command": options.command,
        "machine": {**machine(), "load_at_start": load_at_start, "load_at_end": os.getloadavg()},
        "options": {
            "rows": options.rows,
            "members": options.members,
            "duration": options.duration,
            "catalog": str(options.catalog) if options.catalog else None,
            "cache_size": options.cache_size,
            "rate": options.rate,
            "reaction_rate": options.reaction_rate,
            "seed": options.seed,
        },
        "rows": meta["rows_stored"],
        "members": meta["members"],
        "tracks": meta["tracks"],
        "recommend_ms": _stats(latency.get(RECOMMEND)),
        "similar_ms": _stats(latency.get(SIMILAR)),
        "autocomplete_ms": _stats(latency.get(AUTOCOMPLETE)),
        "compute_ms": _stats(compute) if compute is not None and compute.count else None,
        "harness_ms": _stats(latency.get(HARNESS)),
        "compute_note": None
        if compute is not None and compute.count
        else f"the engine recorded no {COMPUTE!r} series",
        "floor_ms": floor32,
        "floor_float64_ms": floor64,
        "loop_lag_ms": {
            "p99": _round(loop_lag.p99_ms),
            "max": _round(max(window.max_lag * 1000, loop_lag.max_ms)),
            "n": loop_lag.count,
        },
        "swap_ms": window.swap,
        "reaction_visible_ms": {
            **(_stats_of(window.visible_ms) or {"p50": None, "p99": None, "max": None, "n": 0}),
            "timed_out": window.visible_timeouts,
            "timeout_ms": PROBE_TIMEOUT * 1000,
            "source": window.visible_source,
        },
        "rss_mib": _round(peak_memory_mib("VmHWM"), 1),
        "rss_end_mib": _round(resident_mib(), 1),
        "startup_s": round(startup_seconds, 3),
        "cache": cache,
        "cache_size": cache_note,
        "window_seconds": round(window_seconds, 3),
        "cpu": {
            "seconds": round(cpu_seconds, 3),
            "cores": round(cpu_seconds / window_seconds, 3),
        },
        "unsettled": unsettled,
        "commands": {**window.commands, "busy_refusals": refused},
        "other_series_ms": {
            name: _stats(summary)
            for name, summary in latency.items()
            if name not in (RECOMMEND, SIMILAR, AUTOCOMPLETE, COMPUTE, HARNESS)
        },
        "reactions": {
            "emitted": window.reactions + window.probe_reactions,
            "distinct": len(window.reaction_keys),
            "stored": stored,
            "per_second": round(window.reactions / window_seconds, 1),
            "late_cards": len(window.late_cards),
            "writer_queue": {
                "max": max(window.writer_queue, default=None),
                "mean": _round(float(np.mean(window.writer_queue)), 1)
                if window.writer_queue
                else None,
                "samples": len(window.writer_queue),
            },
            "cards": len(window.cards),
            "path": "discord.py gateway parser (parse_message_reaction_add), not SimCord's gateway",
        },
        "data": {
            key: meta[key]
            for key in ("catalog", "copy_layers", "originals", "tastes", "origins", "kinds", "als")
        }
        | {"prepare_seconds": meta["seconds"], "reused": prepared.reused},
    }
    report["targets"] = targets(report, options)
    return report


async def _wait_for_reactions(bot: Any, expected: int) -> int:
    """Feedback rows from reactions, once the writer has stored `expected`, or no new one
    arrived for STORE_QUIET seconds (some were lost: the report shows how many)."""
    from sqlalchemy import func, select

    from storage.models import Feedback, FeedbackSource

    last, changed = -1, time.perf_counter()
    while True:
        async with bot.database.sessions() as session:
            stored = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Feedback)
                    .where(Feedback.source == FeedbackSource.REACTION)
                )
                or 0
            )
        now = time.perf_counter()
        if stored != last:
            last, changed = stored, now
        if stored >= expected or now - changed > STORE_QUIET:
            return stored
        await asyncio.sleep(0.05)


def time_floor(artifact: Path, repetitions: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scoring floor (module docstring): float32 and float64, one BLAS thread."""
    from threadpoolctl import threadpool_limits

    from recommender.artifacts import ARRAYS

    with np.load(artifact / ARRAYS, allow_pickle=False) as arrays:
        items32 = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)
        users32 = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
    results = []
    with threadpool_limits(1, "blas"):
        for dtype in (np.float32, np.float64):
            items, users = items32.astype(dtype), users32.astype(dtype)
            timings = []
            for number in range(repetitions):
                user = users[number % len(users)]
                started = time.perf_counter()
                scores = items @ user
                np.argpartition(-scores, 10)[:10]
                timings.append((time.perf_counter() - started) * 1000)
            results.append(_stats_of(timings))
    return results[0], results[1]


# --- figures -------------------------------------------------------------------------------


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None or value != value:  # NaN: nothing measured
        return None
    return round(float(value), digits)


def _stats(summary: Any) -> dict[str, Any] | None:
    """A bot.http.timings.Summary as {"p50", "p99", "max", "n"} (ms); None when empty."""
    if summary is None or not summary.count:
        return None
    return {
        "p50": _round(summary.p50_ms),
        "p99": _round(summary.p99_ms),
        "max": _round(summary.max_ms),
        "n": summary.count,
    }


def _stats_of(milliseconds: Sequence[float]) -> dict[str, Any] | None:
    from bot.http.timings import Summary

    return _stats(Summary.of(value / 1000 for value in milliseconds))


def _get(report: dict[str, Any], *path: str) -> float | None:
    value: Any = report
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return float(value)


def targets(report: dict[str, Any], options: BenchOptions) -> list[dict[str, Any]]:
    """Issue 17's targets, each with what this run measured and its verdict: "met",
    "missed", "not measured at this size" (fewer rows or members than the targets', or
    another load), or "not measured" (the figure is missing)."""
    at_size = (
        options.rows >= TARGET_ROWS
        and options.members >= TARGET_MEMBERS
        and options.rate == COMMAND_RATE
        and options.reaction_rate == REACTION_RATE
    )
    compute_p50 = _get(report, "compute_ms", "p50")
    floor_p50 = _get(report, "floor_ms", "p50")
    ratio = compute_p50 / floor_p50 if compute_p50 is not None and floor_p50 else None
    rows = [
        ("/recommend p99", "ms", _get(report, "recommend_ms", "p99"), 25.0),
        ("compute p99", "ms", _get(report, "compute_ms", "p99"), 10.0),
        ("compute p50 / floor p50", "x", ratio, 5.0),
        ("/similar p99", "ms", _get(report, "similar_ms", "p99"), 25.0),
        ("autocomplete p99", "ms", _get(report, "autocomplete_ms", "p99"), 10.0),
        ("loop lag p99", "ms", _get(report, "loop_lag_ms", "p99"), 5.0),
        ("loop lag max", "ms", _get(report, "loop_lag_ms", "max"), 50.0),
        ("reaction visible p99", "ms", _visible_p99(report), 1000.0),
        ("peak RSS", "MiB", _get(report, "rss_mib"), 2048.0),
        ("start-up", "s", _get(report, "startup_s"), 30.0),
    ]
    verdicts = []
    for name, unit, measured, limit in rows:
        if measured is None:
            verdict = "not measured"
        elif not at_size:
            verdict = "not measured at this size"
        else:
            verdict = "met" if measured < limit else "missed"
        verdicts.append(
            {
                "target": f"{name} < {limit:g} {unit}",
                "measured": _round(measured),
                "limit": limit,
                "unit": unit,
                "verdict": verdict,
            }
        )
    return verdicts


def _visible_p99(report: dict[str, Any]) -> float | None:
    visible = report["reaction_visible_ms"]
    if visible.get("timed_out"):
        return float(visible["timeout_ms"])  # at least that: a probe never saw it
    return _get(report, "reaction_visible_ms", "p99")


def format_report(report: dict[str, Any]) -> list[str]:
    """The table the command prints."""
    host, data = report["machine"], report["data"]
    load = "/".join(f"{v:.1f}" for v in host["load_at_start"])
    lines = [
        report["command"],
        f"machine: {host['cpu_count']} CPUs, {host['platform']}, Python {host['python']}, "
        f"SQLite {host['sqlite']}; load average {load} at the start",
        f"data: {report['rows']:,} feedback rows from {report['members']:,} members, "
        f"{report['tracks']:,} tracks ({data['copy_layers']} copy layers over "
        f"{data['originals']:,} originals); tastes: {data['tastes']['playlist']:,} playlists, "
        f"{data['tastes']['lastfm']:,} Last.fm listeners"
        + ("; prepared earlier" if data["reused"] else ""),
    ]
    for source, origin in data["origins"].items():
        lines.append(
            f"  {source:<9} {origin['members']:>8,} members {origin['rows']:>11,} rows: "
            f"{origin['taste']:,} from their taste, {origin['other_versions']:,} other "
            f"versions, {origin['next_tastes']:,} next tastes, {origin['popular']:,} "
            "popular skips/dislikes"
        )
    commands = report["commands"]
    lines += [
        f"load: {report['window_seconds']:.1f} s, {commands['recommend']:,} /recommend + "
        f"{commands['similar']:,} /similar (+ autocomplete) emitted, {commands['probe']:,} "
        f"probe /recommend; {report['reactions']['emitted']:,} reactions "
        f"({report['reactions']['per_second']:,.0f}/s, into the gateway parser)",
        "",
        f"{'figure':<26} {'n':>7} {'p50':>10} {'p99':>10} {'max':>10}",
    ]
    for label, key in (
        ("/recommend ms", "recommend_ms"),
        ("  compute ms", "compute_ms"),
        ("  floor ms (float32)", "floor_ms"),
        ("  floor ms (float64)", "floor_float64_ms"),
        ("/similar ms", "similar_ms"),
        ("autocomplete ms", "autocomplete_ms"),
        ("/help ms (harness)", "harness_ms"),
        ("reaction visible ms", "reaction_visible_ms"),
        ("loop lag ms", "loop_lag_ms"),
    ):
        lines.append(_figure_row(label, report[key]))
    # Where a command's time goes (bot.timings "stage ..." series: the engine and the cards).
    for name, stats in sorted(report["other_series_ms"].items()):
        if name.startswith("stage ") and stats:
            lines.append(_figure_row(f"  {name}", stats))
    if report["compute_ms"] is None:
        lines.append(f"  ({report['compute_note']})")
    visible = report["reaction_visible_ms"]
    lines.append(
        f"  (reaction visible: {visible['source']}; {visible['timed_out']} probes timed out "
        f"after {visible['timeout_ms'] / 1000:g} s)"
    )
    swap = report["swap_ms"]
    if swap is None:
        lines.append("swap: did not happen (the window was too short?)")
    else:
        stall = "-" if swap["longest_stall"] is None else f"{swap['longest_stall']:,.1f}"
        lines.append(
            f"swap to ALS v{swap['to_version']} at {swap['at_seconds']:g} s "
            f"({swap['via']}): {swap['duration']:,.1f} ms, longest loop stall "
            f"{stall} ms"
        )
    if report["unsettled"]:
        lines.append(f"NOT SETTLED: {report['unsettled']}")
    reactions = report["reactions"]
    lines += [
        f"reactions stored: {reactions['stored']:,} of {reactions['distinct']:,} distinct, on "
        f"{reactions['cards']:,} cards ({reactions['late_cards']:,} had no stored picks "
        f"{REACTION_DELAY:g} s after they appeared); feedback writer backlog "
        f"mean {reactions['writer_queue']['mean']}, max {reactions['writer_queue']['max']}",
        f"CPU over the window: {report['cpu']['seconds']:,.1f} s, "
        f"{report['cpu']['cores']:.2f} of {os.cpu_count() or '?'} cores",
        f"peak RSS {report['rss_mib']:,.0f} MiB (now {report['rss_end_mib'] or 0:,.0f}); "
        f"start-up {report['startup_s']:.2f} s; member cache: {report['cache_size']}"
        + (f", stats {report['cache']}" if report["cache"] is not None else ", no stats"),
        "",
    ]
    for target in report["targets"]:
        measured = "-" if target["measured"] is None else f"{target['measured']:,.2f}"
        lines.append(f"target {target['target']:<34} measured {measured:>10}  {target['verdict']}")
    return lines


def _figure_row(label: str, stats: dict[str, Any] | None) -> str:
    stats = stats or {}
    cells = [stats.get(name) for name in ("p50", "p99", "max")]
    return f"{label:<26} {stats.get('n', 0) or 0:>7,} " + " ".join(
        f"{'-' if c is None else f'{c:,.2f}':>10}" for c in cells
    )


def print_report(report: dict[str, Any]) -> None:
    import click

    for line in format_report(report):
        click.echo(line)


if __name__ == "__main__":
    sys.exit(prepare_main(sys.argv[1:]))

"""`earworm bench import`: how fast a big Spotify history imports, and what serving the member
who imported it then costs.

The history is made by storage/history/synthetic.py from real catalog tracks (the local
catalog of ../shared/data): `--plays` streams (default 100,000, about 78 MB of extended
streaming history JSON, every field Spotify writes, a fifth skipped, some podcasts) over
`--tracks` distinct tracks with Zipf-like favourites, over two years. It is imported with
the real command, `earworm import spotify-history`, in a fresh process, so the seconds and
the peak memory (the kernel's accounting for that child) are the import's alone; then the
same file again (idempotent: nothing new). Then the serving engine, on that database, serves
the member /recommend: the first request builds their state from 100,000 plays, the
following ones score (the "compute" part, as the bot times it), against a member with a
few likes on the same engine.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bot.bench.catalog import ChildFailed, run_child
from bot.errors import CommandError
from bot.settings import Settings

HEAVY_MEMBER = 910_000_000_000_000_001
LIGHT_MEMBER = 910_000_000_000_000_002
LIGHT_LIKES = 20
REQUESTS = 50


def _peak_mib(usage: Any) -> float:
    return float(usage.ru_maxrss) / 1024.0  # Linux: kilobytes


async def _catalog_tracks(settings: Settings, count: int, seed: int) -> list[Any]:
    from bot.composition import database_for
    from storage.history.synthetic import Track
    from storage.repositories.snapshots import catalog_rows

    async with database_for(settings) as database, database.sessions() as session:
        rows = await catalog_rows(session)
    rng = random.Random(seed)
    chosen = rng.sample(range(len(rows)), min(count, len(rows)))
    return [
        Track(
            id=rows.ids[i],
            name=rows.names[i],
            artist=rows.artists[i][0] if rows.artists[i] else "",
            album="",
            duration_ms=200_000,
        )
        for i in chosen
    ]


def _import(settings: Settings, path: Path, user: int) -> tuple[dict[str, Any], float, float]:
    env = {
        **os.environ,
        "EARWORM_DATA_DIR": str(settings.data_dir),
        "EARWORM_DATABASE_URL": settings.resolved_database_url,
        "EARWORM_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "bot", "import", "spotify-history"]
    try:
        child = run_child([*command, "--user", str(user), str(path), "--json"], env)
    except ChildFailed as exc:
        raise CommandError(f"the import {exc}") from None
    return json.loads(child.stdout), child.wall_seconds, _peak_mib(child.usage)


async def _serve(settings: Settings, tracks: list[Any]) -> dict[str, Any]:
    """The engine serving the heavy member and a light one: first request, then scoring."""
    from bot.composition import database_for
    from bot.http.timings import Summary, Timings
    from bot.serving.engine import Engine
    from storage.models import FeedbackKind, FeedbackSource
    from storage.repositories.feedback import FeedbackEvent, record_feedback_many

    async with database_for(settings) as database:
        async with database.sessions() as session, session.begin():
            await record_feedback_many(
                session,
                [
                    FeedbackEvent(
                        user_id=LIGHT_MEMBER,
                        guild_id=None,
                        track_id=track.id,
                        kind=FeedbackKind.LIKE,
                        source=FeedbackSource.COMMAND,
                    )
                    for track in tracks[:LIGHT_LIKES]
                ],
            )
        timings = Timings()
        engine = Engine(settings, database, timings=timings)
        await engine.start()
        found: dict[str, Any] = {}
        for name, member in (("heavy", HEAVY_MEMBER), ("light", LIGHT_MEMBER)):
            started = time.perf_counter()
            await engine.recommend(member, None, 10)
            first = (time.perf_counter() - started) * 1000
            before = len(timings.samples("compute recommend"))
            requests = []
            for _ in range(REQUESTS):
                started = time.perf_counter()
                await engine.recommend(member, None, 10)
                requests.append(time.perf_counter() - started)
            compute = timings.samples("compute recommend")[before:]
            state = engine.member_state(member)
            found[name] = {
                "first_request_ms": round(first, 1),
                "request_ms": Summary.of(requests).to_json(),
                "compute_ms": Summary.of(compute).to_json(),
                "interactions": len(state.interactions) if state else 0,
            }
        return found


async def run_import_bench(
    settings: Settings, *, plays: int, tracks: int, seed: int, say: Callable[[str], None]
) -> dict[str, Any]:
    from storage.history.synthetic import extended_history, simulate_listening

    say(f"making a history of {plays:,} streams over {tracks:,} catalog tracks ...")
    chosen = await _catalog_tracks(settings, tracks, seed)
    listens = simulate_listening(chosen, seed=seed, count=plays)
    data = await asyncio.to_thread(extended_history, listens)
    with tempfile.TemporaryDirectory(prefix="earworm-bench-import-") as scratch:
        path = Path(scratch) / "Streaming_History_Audio_2019-2020_0.json"
        path.write_bytes(data)
        say("importing it (a fresh process) ...")
        first, first_s, first_mib = await asyncio.to_thread(_import, settings, path, HEAVY_MEMBER)
        say("importing it again ...")
        again, again_s, again_mib = await asyncio.to_thread(_import, settings, path, HEAVY_MEMBER)
    say("serving the member who imported it ...")
    serving = await _serve(settings, chosen)
    return {
        "history": {"streams": plays, "tracks": len(chosen), "bytes": len(data)},
        "import": {**first, "wall_seconds": round(first_s, 2), "peak_rss_mib": round(first_mib, 1)},
        "again": {**again, "wall_seconds": round(again_s, 2), "peak_rss_mib": round(again_mib, 1)},
        "serving": serving,
        "target": {
            "import_seconds": 10.0,
            "met": first_s < 10.0,
        },
        "distinct_tracks_played": int(np.unique([x.track.id for x in listens if x.track]).size),
    }


def print_report(report: dict[str, Any], echo: Callable[[str], None]) -> None:
    history, first, again = report["history"], report["import"], report["again"]
    echo(report["command"])
    echo(
        f"history: {history['streams']:,} streams over {history['tracks']:,} tracks, "
        f"{history['bytes'] / 1e6:.1f} MB of extended streaming history JSON"
    )
    for name, run in (("import", first), ("again", again)):
        echo(
            f"{name:<7} {run['wall_seconds']:>6.2f} s  peak {run['peak_rss_mib']:>6.0f} MiB  "
            f"plays {run.get('plays', 0):,}  new {run.get('new', 0):,}  "
            f"matched {run.get('matched', 0):,}"
        )
    verdict = "met" if report["target"]["met"] else "MISSED"
    echo(f"target: import under {report['target']['import_seconds']:.0f} s: {verdict}")
    echo("serving (the engine alone, one request at a time; ms):")
    for name, row in report["serving"].items():
        echo(
            f"  {name:<6} {row['interactions']:>6,} interactions  first request "
            f"{row['first_request_ms']:>7.1f}  request p50 {row['request_ms']['p50_ms']:>6.2f} "
            f"p99 {row['request_ms']['p99_ms']:>6.2f}  compute p50 "
            f"{row['compute_ms']['p50_ms']:>6.2f} p99 {row['compute_ms']['p99_ms']:>6.2f}"
        )

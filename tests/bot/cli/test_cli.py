"""The `earworm` command line, run as a user would: a real process, real files, real exit codes."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.cli import assert_one_line_error, earworm, postgres_test_database
from tests.factories import KAGGLE_114K_HEADER, csv_text, kaggle_row, track_id, write_csv
from tests.fakes.http import serving


@pytest.fixture
def catalog_csv(tmp_path: Path) -> Path:
    rows = [
        kaggle_row(0, track_id(0), "Halo", "Beyoncé", "pop"),
        kaggle_row(1, track_id(0), "Halo", "Beyoncé", "dance"),
        kaggle_row(2, track_id(2), "Blinding Lights", "The Weeknd", "synth-pop"),
        kaggle_row(3, "bad-id", "Broken", "Nobody", "pop"),
    ]
    return write_csv(tmp_path / "catalog.csv", KAGGLE_114K_HEADER, rows)


def test_import_stats_and_search_round_trip(env: dict[str, str], catalog_csv: Path) -> None:
    result = earworm("catalog", "import", str(catalog_csv), "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 4
    assert summary["tracks_inserted"] == 2
    assert summary["rows_skipped"] == {"invalid_track_id": 1}

    stats = earworm("catalog", "stats", "--json", env=env)
    assert json.loads(stats.stdout) == {"tracks": 2, "artists": 2, "genres": 3}

    found = earworm("search", "beyonce", "--json", env=env)
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)
    assert [(r["id"], r["name"], r["artists"]) for r in results] == [
        (track_id(0), "Halo", ["Beyoncé"])
    ]
    if postgres_test_database() is None:  # the default database file
        assert (Path(env["EARWORM_DATA_DIR"]) / "earworm.db").exists()


def test_human_output(env: dict[str, str], catalog_csv: Path) -> None:
    result = earworm("catalog", "import", str(catalog_csv), env=env)
    assert "inserted         2" in result.stdout
    assert "invalid_track_id" in result.stdout
    found = earworm("search", "blinding", env=env)
    assert "Blinding Lights — The Weeknd" in found.stdout
    assert f"https://open.spotify.com/track/{track_id(2)}" in found.stdout
    nothing = earworm("search", "zzzz", env=env)
    assert nothing.returncode == 0
    assert "No tracks found" in nothing.stdout


def test_db_upgrade_and_downgrade_commands(env: dict[str, str]) -> None:
    up = earworm("db", "upgrade", env=env)
    assert up.returncode == 0, up.stderr
    from storage.migrate import head_revision

    assert f"revision {head_revision()}" in up.stdout
    down = earworm("db", "downgrade", "base", env=env)
    assert "revision base" in down.stdout
    again = earworm("catalog", "stats", "--json", env=env)  # migrates by itself
    assert json.loads(again.stdout) == {"tracks": 0, "artists": 0, "genres": 0}


def test_unknown_revision_is_one_clear_line(env: dict[str, str]) -> None:
    assert_one_line_error(earworm("db", "downgrade", "nonsense", env=env), "nonsense")


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("EARWORM_LOG_LEVEL", "LOUD", "EARWORM_LOG_LEVEL"),
        ("EARWORM_DATABASE_URL", "not a url", "EARWORM_DATABASE_URL"),
    ],
)
def test_bad_setting_names_the_variable(
    env: dict[str, str], variable: str, value: str, fragment: str
) -> None:
    result = earworm("catalog", "stats", env={**env, variable: value})
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:////proc/earworm/cannot.db",
        "postgresql+asyncpg://earworm@127.0.0.1:1/earworm",
        "nosuchdriver://localhost/db",
    ],
)
def test_unreachable_database_is_one_clear_line(env: dict[str, str], url: str) -> None:
    result = earworm("catalog", "stats", env={**env, "EARWORM_DATABASE_URL": url})
    assert_one_line_error(result, "database")


def test_missing_and_corrupt_sources(env: dict[str, str], tmp_path: Path) -> None:
    assert_one_line_error(
        earworm("catalog", "import", str(tmp_path / "missing.csv"), env=env), "no such file"
    )
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK\x03\x04 this is no zip")
    assert_one_line_error(earworm("catalog", "import", str(junk), env=env), "corrupt")


def test_search_rejects_a_bad_limit(env: dict[str, str]) -> None:
    result = earworm("search", "halo", "--limit", "0", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- downloads from a local HTTP server -------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[str]:
    body = csv_text(
        KAGGLE_114K_HEADER, [kaggle_row(0, track_id(5), "Downloaded", "Remote Band", "pop")]
    ).encode()

    async def dataset(_request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/csv")

    async def truncated(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(body) * 2)})
        await response.prepare(request)
        await response.write(body)
        request.transport.close()  # hang up before the promised length
        return response

    app = web.Application()
    app.router.add_get("/dataset.csv", dataset)
    app.router.add_get("/truncated.csv", truncated)
    with serving(app) as url:
        yield url


def test_import_from_url(env: dict[str, str], http_server: str) -> None:
    result = earworm("catalog", "import", f"{http_server}/dataset.csv", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["tracks_inserted"] == 1
    downloads = Path(env["EARWORM_DATA_DIR"]) / "downloads"
    assert list(downloads.iterdir()) == []  # the temporary download is cleaned up


def test_url_errors(env: dict[str, str], http_server: str) -> None:
    assert_one_line_error(
        earworm("catalog", "import", f"{http_server}/missing.csv", env=env), "HTTP 404"
    )
    assert_one_line_error(
        earworm("catalog", "import", f"{http_server}/truncated.csv", env=env), "cut short"
    )
    assert_one_line_error(
        earworm("catalog", "import", "http://127.0.0.1:1/dataset.csv", env=env), "cannot download"
    )
    stats = earworm("catalog", "stats", "--json", env=env)
    assert json.loads(stats.stdout)["tracks"] == 0  # nothing half-written


# --- an import killed halfway ----------------------------------------------------------


def _track_count(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM tracks").fetchone()[0]


@pytest.mark.sqlite_only("reads the SQLite file and its WAL")
def test_import_killed_halfway_keeps_the_previous_catalog(
    env: dict[str, str], catalog_csv: Path, tmp_path: Path
) -> None:
    assert earworm("catalog", "import", str(catalog_csv), env=env).returncode == 0
    database = Path(env["EARWORM_DATA_DIR"]) / "earworm.db"
    before = _track_count(database)

    big = write_csv(
        tmp_path / "big.csv",
        KAGGLE_114K_HEADER,
        [
            kaggle_row(i, track_id(1000 + i), f"Song {i}", f"Band {i % 500}", "rock")
            for i in range(40_000)
        ],
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "catalog", "import", str(big), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wal = database.with_name(database.name + "-wal")
    deadline = time.monotonic() + 60
    # Kill it once the write transaction is under way (its pages are landing in the WAL).
    while time.monotonic() < deadline and process.poll() is None:
        if wal.exists() and wal.stat().st_size > 512 * 1024:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the import finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(10)

    assert _track_count(database) == before
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # The killed import had paused the search triggers; the rollback switched them back.
        assert connection.execute("SELECT paused FROM track_search_sync").fetchone()[0] == 0
    found = earworm("search", "halo", "--json", env=env)
    assert [r["name"] for r in json.loads(found.stdout)] == ["Halo"]

"""`earworm import spotify-history|lastfm`, run as an operator would: a real process, a
database holding the small world of tests/bot/world.py, Spotify exports written by the
product's own generator, a local fake Last.fm."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.database import open_database
from storage.history.synthetic import (
    Listen,
    Track,
    account_history,
    extended_history,
    simulate_listening,
)
from storage.models import Play
from tests.bot.world import TRACKS
from tests.cli import assert_one_line_error, database_url_in, earworm
from tests.factories import track_id
from tests.fakes.lastfm_server import FakeLastfm

MEMBER = 123_456_789_012_345_678
OUTSIDE = Track("4uLU6hMCjMI75M1A2tKUQC", "Dreams", "Fleetwood Mac", "Rumours", 257_000)
CATALOG = [
    Track(track_id(number), name, artist, f"{name} (Album)", 200_000)
    for number, name, artist, *_ in TRACKS
]


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.startswith("LASTFM_")}


@pytest.fixture
def listens() -> list[Listen]:
    return simulate_listening([*CATALOG, OUTSIDE], seed=1, count=120)


def stored_plays(data_dir: Path) -> int:
    async def read() -> int:
        database = await open_database(database_url_in(data_dir))
        try:
            async with database.sessions() as session:
                statement = select(func.count()).select_from(Play).where(Play.user_id == MEMBER)
                return await session.scalar(statement) or 0
        finally:
            await database.close()

    return asyncio.run(read())


def songs(listens: list[Listen]) -> int:
    return sum(1 for listen in listens if listen.track is not None)


def import_json(env: dict[str, str], *args: str) -> dict[str, object]:
    result = earworm("import", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_a_history_file_is_imported_once(
    env: dict[str, str], imported: Path, tmp_path: Path, listens: list[Listen]
) -> None:
    path = tmp_path / "Streaming_History_Audio_2019-2020_0.json"
    path.write_bytes(extended_history(listens))

    summary = import_json(env, "spotify-history", "--user", str(MEMBER), str(path))

    assert summary["format"] == "spotify-extended"
    assert summary["new"] == summary["matched"] == summary["plays"] == songs(listens)
    assert summary["tracks_added"] == 1  # Dreams, outside the catalog
    assert summary["skipped"] == {"podcast": len(listens) - songs(listens)}
    assert stored_plays(imported) == songs(listens)

    again = earworm("import", "spotify-history", "--user", str(MEMBER), str(path), env=env)
    assert again.returncode == 0, again.stderr
    assert "  new              0\n" in again.stdout
    assert f"  already stored   {songs(listens)}\n" in again.stdout
    assert stored_plays(imported) == songs(listens)


def test_a_folder_gives_its_history_files_and_prefers_the_extended_history(
    env: dict[str, str], imported: Path, tmp_path: Path, listens: list[Listen]
) -> None:
    export = tmp_path / "my_spotify_data"
    (export / "Spotify Extended Streaming History").mkdir(parents=True)
    (export / "Spotify Account Data").mkdir()
    half = len(listens) // 2
    for number, part in enumerate((listens[:half], listens[half:])):
        name = f"Streaming_History_Audio_2019-2020_{number}.json"
        (export / "Spotify Extended Streaming History" / name).write_bytes(extended_history(part))
    # The account data repeats the same plays without ids: it must not count twice.
    (export / "Spotify Account Data" / "StreamingHistory_music_0.json").write_bytes(
        account_history(listens)
    )
    (export / "Spotify Account Data" / "Userdata.json").write_text('{"country": "GB"}')

    summary = import_json(env, "spotify-history", "--user", str(MEMBER), str(export))

    assert summary["format"] == "spotify-extended"
    assert summary["new"] == songs(listens)
    assert stored_plays(imported) == songs(listens)


def test_an_account_data_file_matches_by_name(
    env: dict[str, str], imported: Path, tmp_path: Path, listens: list[Listen]
) -> None:
    path = tmp_path / "StreamingHistory_music_0.json"
    path.write_bytes(account_history(listens))
    dreams = sum(1 for listen in listens if listen.track is OUTSIDE)

    summary = import_json(env, "spotify-history", "--user", str(MEMBER), str(path))

    assert summary["format"] == "spotify-account-data"
    assert summary["unmatched"] == dreams > 0  # no id, and not in the catalog
    assert summary["matched_by_name"] == summary["new"]
    assert stored_plays(imported) == summary["new"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json at all", "is not JSON (nor a zip)"),
        (b'{"a": 1}', "is JSON, but not a Spotify streaming history"),
        (b"", "is empty"),
    ],
)
def test_a_bad_file_is_one_error_line_and_nothing_is_written(
    env: dict[str, str], imported: Path, tmp_path: Path, content: bytes, fragment: str
) -> None:
    good = tmp_path / "Streaming_History_Audio_2019_0.json"
    good.write_bytes(extended_history(simulate_listening(CATALOG, seed=2, count=20)))
    bad = tmp_path / "Streaming_History_Audio_2019_1.json"
    bad.write_bytes(content)

    result = earworm(
        "import", "spotify-history", "--user", str(MEMBER), str(good), str(bad), env=env
    )

    assert_one_line_error(result, str(bad), fragment)
    assert stored_plays(imported) == 0  # the good file waited for the bad one: nothing kept


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--user", str(MEMBER), "nowhere.json"), "nowhere.json: no such file or folder"),
        (("--user", "0", "x.json"), "--user 0 is outside the range of Discord ids"),
    ],
)
def test_bad_arguments_are_one_error_line(
    env: dict[str, str], imported: Path, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(earworm("import", "spotify-history", *args, env=env), fragment)


def test_a_folder_without_a_history_is_an_error(
    env: dict[str, str], imported: Path, tmp_path: Path
) -> None:
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "Userdata.json").write_text("{}")
    result = earworm(
        "import", "spotify-history", "--user", str(MEMBER), str(tmp_path / "export"), env=env
    )
    assert_one_line_error(result, "no Spotify streaming history in this folder")


# --- Last.fm --------------------------------------------------------------------------


@pytest.fixture
def lastfm() -> Iterator[FakeLastfm]:
    with FakeLastfm() as fake:
        yield fake


def with_key(env: dict[str, str], fake: FakeLastfm) -> dict[str, str]:
    return {**env, "LASTFM_API_KEY": fake.api_key, "LASTFM_API_URL": fake.url}


def test_lastfm_scrobbles_are_imported(
    env: dict[str, str], imported: Path, lastfm: FakeLastfm
) -> None:
    start = 1_700_000_000
    lastfm.add_scrobbles(
        "rj", [(t.name, t.artist, t.album, start + 60 * n) for n, t in enumerate(CATALOG)]
    )

    summary = import_json(with_key(env, lastfm), "lastfm", "--user", str(MEMBER), "rj")

    assert summary["source"] == "lastfm"
    assert summary["new"] == len(CATALOG)
    assert stored_plays(imported) == len(CATALOG)


def test_lastfm_errors_are_one_line(
    env: dict[str, str], imported: Path, lastfm: FakeLastfm
) -> None:
    result = earworm("import", "lastfm", "--user", str(MEMBER), "nobody", env=with_key(env, lastfm))
    assert_one_line_error(result, "Last.fm has no user called 'nobody'")

    lastfm.add_scrobbles("rj", [("Halo", "Beyoncé", "I Am...", 1_700_000_000)])
    lastfm.fail(429, error=29, headers={"Retry-After": "120"})
    result = earworm("import", "lastfm", "--user", str(MEMBER), "rj", env=with_key(env, lastfm))
    assert_one_line_error(result, "rate-limiting Earworm; try again in 120 s")
    assert stored_plays(imported) == 0


def test_lastfm_without_an_api_key_says_how_to_get_one(env: dict[str, str], imported: Path) -> None:
    result = earworm("import", "lastfm", "--user", str(MEMBER), "rj", env=env)
    assert_one_line_error(
        result, "LASTFM_API_KEY is not set", "https://www.last.fm/api/account/create"
    )

"""Spotify privacy exports: both histories, bare JSON or zipped, every way an upload goes wrong."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from datetime import UTC, datetime

import pytest

from storage.history.parsed import HistoryError
from storage.history.spotify_export import ACCOUNT_DATA, EXTENDED, parse_spotify_export
from tests.conftest import SPOTIFY_CATALOG, require_shared
from tests.fixtures_history import (
    account_history,
    export_zip,
    extended_history,
    read_playlists,
    simulate_listening,
)

pytestmark = pytest.mark.database_neutral("parsing an upload never opens a database")

NOW = datetime(2024, 6, 1, tzinfo=UTC)
HALO = "0nTlAHpUsAR7oKJMBHtM8q"
CRAZY = "5IVuqXILoxVWvWEPm82Jxr"


def stream(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "ts": "2024-01-02T03:04:05Z",
        "platform": "ios",
        "ms_played": 215_000,
        "conn_country": "GB",
        "master_metadata_track_name": "Halo",
        "master_metadata_album_artist_name": "Beyoncé",
        "master_metadata_album_album_name": "I AM...SASHA FIERCE",
        "spotify_track_uri": f"spotify:track:{HALO}",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "incognito_mode": False,
    }
    row.update(over)
    return row


def account_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "endTime": "2024-01-02 03:04",
        "artistName": "Beyoncé",
        "trackName": "Halo",
        "msPlayed": 215_000,
    }
    row.update(over)
    return row


def as_json(rows: object) -> bytes:
    return json.dumps(rows).encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def parse(data: bytes, **limits: int):
    return parse_spotify_export(data, now=NOW, **limits)


# --- the two histories ------------------------------------------------------------------


def test_an_extended_history_becomes_plays() -> None:
    history = parse(
        as_json(
            [
                stream(),
                stream(
                    ts="2024-01-02T03:10:00Z",
                    ms_played=4_000,
                    spotify_track_uri=f"spotify:track:{CRAZY}",
                    master_metadata_track_name="Crazy In Love (feat. JAY-Z)",
                    master_metadata_album_album_name=None,
                    reason_end="fwdbtn",
                    skipped=True,
                ),
            ]
        )
    )
    assert history.format == EXTENDED
    assert history.rows_read == 2
    first, second = history.plays
    assert first.spotify_id == HALO
    assert (first.title, first.artist, first.album) == ("Halo", "Beyoncé", "I AM...SASHA FIERCE")
    assert first.played_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (first.ms_played, first.skipped) == (215_000, False)
    assert (second.spotify_id, second.album, second.skipped) == (CRAZY, None, True)
    assert not history.skipped


def test_old_exports_without_skipped_say_it_through_reason_end() -> None:
    history = parse(
        as_json(
            [
                stream(skipped=None, reason_end="fwdbtn"),
                stream(ts="2024-01-02T03:10:00Z", skipped=None, reason_end="trackdone"),
                stream(ts="2024-01-02T03:20:00Z", skipped=None, reason_end="logout"),
            ]
        )
    )
    assert [play.skipped for play in history.plays] == [True, False, None]


def test_an_account_data_history_becomes_plays_without_ids() -> None:
    history = parse(as_json([account_row(), account_row(endTime="2024-01-02 03:09")]))
    assert history.format == ACCOUNT_DATA
    play = history.plays[0]
    assert (play.spotify_id, play.title, play.artist, play.album) == (None, "Halo", "Beyoncé", None)
    assert play.played_at == datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
    assert (play.ms_played, play.skipped) == (215_000, None)


def test_a_byte_order_mark_is_fine() -> None:
    assert len(parse(b"\xef\xbb\xbf" + as_json([account_row()])).plays) == 1


def test_an_empty_list_is_a_history_with_nothing_in_it() -> None:
    history = parse(b"[]")
    assert (history.plays, history.rows_read) == ([], 0)


# --- rows left out, by reason -----------------------------------------------------------


def test_rows_that_cannot_be_plays_are_counted_by_reason() -> None:
    rows = [
        stream(),  # kept
        stream(ts="2024-01-02T03:04:05Z"),  # the same stream again: duplicate
        stream(
            spotify_track_uri=None,
            master_metadata_track_name=None,
            episode_name="Episode 12",
            spotify_episode_uri="spotify:episode:5eMHxZm5k9VG9aaYhQFFzB",
        ),
        stream(spotify_track_uri="spotify:episode:5eMHxZm5k9VG9aaYhQFFzB"),
        stream(
            spotify_track_uri=None,
            master_metadata_track_name=None,
            audiobook_title="A Book",
            audiobook_uri="spotify:audiobook:x",
        ),
        stream(spotify_track_uri=None, master_metadata_track_name=None),  # nothing at all
        stream(spotify_track_uri="spotify:track:tooshort"),
        stream(ts="2031-01-01T00:00:00Z"),  # after NOW
        stream(ts="1970-01-01T00:00:00Z"),  # a clock that was never set
        stream(ts="yesterday"),
        stream(ts=None),
        stream(ms_played=-1),
        stream(ms_played=25 * 3600 * 1000),
        stream(ms_played="lots"),
        {"something": "else"},
        42,
    ]
    history = parse(as_json(rows))
    assert len(history.plays) == 1
    assert history.rows_read == len(rows)
    assert dict(history.skipped) == {
        "duplicate": 1,
        "podcast": 2,
        "audiobook": 1,
        "no_track": 2,
        "future_timestamp": 1,
        "bad_timestamp": 3,
        "negative_ms": 1,
        "absurd_ms": 1,
        "bad_ms": 1,
        "malformed_row": 2,
    }
    assert history.to_json()["skipped"]["podcast"] == 2


def test_a_local_file_without_an_id_is_matched_by_name() -> None:
    history = parse(as_json([stream(spotify_track_uri=None)]))
    assert [(p.spotify_id, p.title) for p in history.plays] == [(None, "Halo")]


def test_account_data_placeholders_are_not_tracks() -> None:
    history = parse(
        as_json(
            [
                account_row(trackName="Unknown Track", artistName="Unknown Artist"),
                account_row(trackName=""),
                account_row(endTime="2024-13-45 99:99"),
                account_row(msPlayed=None),
            ]
        )
    )
    assert history.plays == []
    assert dict(history.skipped) == {"no_track": 2, "bad_timestamp": 1, "bad_ms": 1}


def test_a_play_a_few_minutes_ahead_is_a_clock_not_the_future() -> None:
    history = parse(as_json([stream(ts="2024-06-01T00:05:00Z")]))
    assert len(history.plays) == 1


# --- zips -------------------------------------------------------------------------------


def test_a_zip_is_read_from_its_bytes_and_only_its_history_files() -> None:
    extended = "my_spotify_data/Spotify Extended Streaming History"
    data = zipped(
        {
            f"{extended}/Streaming_History_Audio_2024_1.json": as_json(
                [stream(ts="2024-01-03T00:00:00Z")]
            ),
            f"{extended}/Streaming_History_Audio_2023-2024_0.json": as_json([stream()]),
            f"{extended}/Streaming_History_Video_2024.json": b"[]",
            "my_spotify_data/Spotify Account Data/StreamingHistory_music_0.json": as_json(
                [account_row()]
            ),
            "my_spotify_data/Spotify Account Data/Userdata.json": b'{"username": "x"}',
            "__MACOSX/my_spotify_data/._Streaming_History_Audio_2024_1.json": b"\x00\x05",
            "ReadMe.pdf": b"%PDF",
        }
    )
    history = parse(data)
    assert history.format == EXTENDED
    assert history.files == [
        "Streaming_History_Audio_2023-2024_0.json",
        "Streaming_History_Audio_2024_1.json",
    ]
    # The account data repeats the extended history's last year: left out, with the rest.
    assert history.ignored_files == 5
    assert [p.played_at.day for p in history.plays] == [2, 3]


def test_older_zips_are_read_too() -> None:
    data = zipped(
        {
            "MyData/endsong_0.json": as_json([stream()]),
            "MyData/StreamingHistory0.json": as_json([account_row()]),
        }
    )
    assert parse(data).files == ["endsong_0.json"]
    account_only = zipped(
        {
            "MyData/StreamingHistory0.json": as_json([account_row()]),
            "MyData/StreamingHistory1.json": as_json([account_row(endTime="2024-01-05 10:00")]),
            "MyData/StreamingHistory_podcast_0.json": b"[]",
        }
    )
    history = parse(account_only)
    assert (history.format, len(history.plays), history.ignored_files) == (ACCOUNT_DATA, 2, 1)


# --- whole uploads refused ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not JSON"),
        (b"ts,ms_played\n2024,1\n", "not JSON"),
        (b'[{"ts": "2024-01-02T03:04:05Z", "ms_played": 1}', "not JSON"),
        (b'{"ts": "2024-01-02T03:04:05Z", "ms_played": 1}', "not a Spotify streaming history"),
        (b"[1, 2, 3]", "not a Spotify streaming history"),
        (b'[{"name": "Halo", "plays": 3}]', "not a Spotify streaming history"),
        (b'"just a string"', "not a Spotify streaming history"),
        (b"PK\x03\x04 this is no zip", "damaged"),
    ],
)
def test_bad_uploads_are_one_error_with_a_short_message(data: bytes, message: str) -> None:
    with pytest.raises(HistoryError, match=message) as caught:
        parse(data)
    assert "\n" not in str(caught.value)
    assert len(str(caught.value)) < 300


def test_a_zip_without_a_history_is_refused() -> None:
    data = zipped({"Userdata.json": b"{}", "Playlist1.json": b'{"playlists": []}'})
    with pytest.raises(HistoryError, match="no Spotify streaming history"):
        parse(data)
    with pytest.raises(HistoryError, match="no Spotify streaming history"):
        parse(zipped({}))


def test_a_history_file_that_is_not_json_names_itself() -> None:
    data = zipped({"Streaming_History_Audio_2024.json": b"\xff\xfe garbage"})
    with pytest.raises(HistoryError, match=r"Streaming_History_Audio_2024\.json is not JSON"):
        parse(data)


def test_an_upload_over_the_size_limit_is_refused_before_reading() -> None:
    with pytest.raises(HistoryError, match="limit is 1 MB"):
        parse(b"[" + b" " * (2 * 1024 * 1024) + b"]", max_upload_bytes=1024 * 1024)


def test_a_zip_bomb_is_refused_from_its_declared_sizes() -> None:
    bomb = zipped({"Streaming_History_Audio_2024.json": b"[" + b" " * (3 * 1024 * 1024) + b"]"})
    assert len(bomb) < 20_000  # 3 MB of spaces compress to almost nothing
    with pytest.raises(HistoryError, match="unpack to more than 1 MB"):
        parse(bomb, max_uncompressed_bytes=1024 * 1024)


def _lie_about_sizes(data: bytes, size: int) -> bytes:
    """Rewrite every declared uncompressed size in the zip to `size`."""
    patched = bytearray(data)
    start = 0
    while (at := patched.find(b"PK\x03\x04", start)) >= 0:
        struct.pack_into("<I", patched, at + 22, size)
        start = at + 4
    start = 0
    while (at := patched.find(b"PK\x01\x02", start)) >= 0:
        struct.pack_into("<I", patched, at + 24, size)
        start = at + 4
    return bytes(patched)


def test_a_zip_that_lies_about_its_sizes_is_refused() -> None:
    honest = zipped({"Streaming_History_Audio_2024.json": b"[" + b" " * (3 * 1024 * 1024) + b"]"})
    liar = _lie_about_sizes(honest, 100)
    with pytest.raises(HistoryError, match=r"damaged|unpack to more than"):
        parse(liar, max_uncompressed_bytes=1024 * 1024)


def test_a_zip_with_too_many_files_is_refused() -> None:
    data = zipped({f"f{n}.json": b"[]" for n in range(30)})
    with pytest.raises(HistoryError, match="30 files"):
        parse(data, max_members=20)


def test_a_password_protected_zip_is_refused() -> None:
    data = bytearray(zipped({"Streaming_History_Audio_2024.json": as_json([stream()])}))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        flags = struct.unpack_from("<H", data, at + offset)[0]
        struct.pack_into("<H", data, at + offset, flags | 0x1)
    with pytest.raises(HistoryError, match="password"):
        parse(bytes(data))


def test_a_truncated_zip_is_refused() -> None:
    data = zipped({"Streaming_History_Audio_2024.json": as_json([stream()] * 50)})
    with pytest.raises(HistoryError, match="damaged"):
        parse(data[: len(data) // 2])


# --- built from real playlists ------------------------------------------------------------


def test_an_export_built_from_real_playlists_parses_back() -> None:
    playlists = read_playlists(require_shared(SPOTIFY_CATALOG))
    tracks = [t for pid in playlists.largest(2) for t in playlists.by_id[pid]]
    listens = simulate_listening(tracks, seed=7, count=3_000, podcast_share=0.05)
    assert listens == simulate_listening(tracks, seed=7, count=3_000, podcast_share=0.05)
    music = [listen for listen in listens if listen.track is not None]
    distinct = {(listen.track.id, listen.ended) for listen in music}  # type: ignore[union-attr]

    history = parse_spotify_export(export_zip(listens, per_file=1_000))
    assert history.format == EXTENDED
    assert len(history.files) == 3
    assert history.skipped["podcast"] == len(listens) - len(music) > 0
    assert len(history.plays) == len(distinct)
    assert history.skipped["duplicate"] == len(music) - len(distinct)
    by_id = {t.id: t for t in tracks}
    for play in history.plays:
        track = by_id[play.spotify_id]  # type: ignore[index]
        assert (play.title, play.artist, play.album) == (track.name, track.artist, track.album)
    skips = sum(1 for p in history.plays if p.skipped)
    assert 0.1 < skips / len(history.plays) < 0.3

    account = parse_spotify_export(account_history(listens))
    assert account.format == ACCOUNT_DATA
    assert account.rows_read == len(music)
    assert {p.title for p in account.plays} <= {t.name for t in tracks}

    assert parse_spotify_export(extended_history(listens)).rows_read == len(listens)

"""A small hand-made world where style and sound disagree, for `/similar`'s modes, `/mix`,
`/artist` and `earworm similar --batch` / `earworm artists`: TidyTuesday-format rows (so
the import keeps release dates and playlist ids), four scenes, and one 2021 pop song that
sounds exactly like Take On Me.

- 80s synth-pop, played together in the "80s" playlist: a-ha, Eurythmics, The Human
  League, Soft Cell, Tears for Fears.
- 70s album rock, in the "rock" playlist: Queen (two songs), Aerosmith, Boston, Kansas.
- 2010s rap, in the "rap" playlist: five rappers.
- Today's pop, in the "pop now" playlist: Modern Star's "Neon Nights" (Take On Me's audio
  features exactly), and four more.
- Lonely Bard: one folk song of 1969, in no playlist; "Untitled Demo" by Nobody Known: no
  genre and no release date.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.catalog.importer import import_catalog
from storage.database import open_database
from tests.cli import database_url_in
from tests.factories import TIDY_HEADER, tidy_row, track_id, write_csv

PLAYLISTS = {
    "80s": "80sMix000000000000000a",
    "rock": "ClassicRock00000000000",
    "rap": "RapCaviar0000000000000",
    "pop": "PopNow0000000000000000",
}
# (number, name, artist, genre, subgenre, release date, playlist, sound: a base feature row)
SYNTH = (0.70, 0.80, 0.85, 0.10, 160.0)  # danceability, energy, valence, acousticness, tempo
ROCK = (0.40, 0.70, 0.40, 0.30, 80.0)
RAP = (0.85, 0.60, 0.40, 0.15, 140.0)
POP = (0.65, 0.75, 0.60, 0.20, 110.0)
FOLK = (0.30, 0.20, 0.30, 0.95, 70.0)
TRACKS: list[tuple[int, str, str, str, str, str, str | None, tuple[float, ...]]] = [
    (0, "Take On Me", "a-ha", "pop", "synth-pop", "1985-06-01", "80s", SYNTH),
    (1, "Sweet Dreams", "Eurythmics", "pop", "synth-pop", "1983-01-04", "80s", SYNTH),
    (2, "Don't You Want Me", "The Human League", "pop", "synth-pop", "1981-10-16", "80s", SYNTH),
    (3, "Tainted Love", "Soft Cell", "pop", "synth-pop", "1981-07-17", "80s", SYNTH),
    (4, "Shout", "Tears for Fears", "pop", "synth-pop", "1984-11-19", "80s", SYNTH),
    (5, "Bohemian Rhapsody", "Queen", "rock", "album rock", "1975-10-31", "rock", ROCK),
    (6, "Don't Stop Me Now", "Queen", "rock", "album rock", "1978-11-10", "rock", ROCK),
    (7, "Dream On", "Aerosmith", "rock", "album rock", "1973-01-05", "rock", ROCK),
    (8, "More Than a Feeling", "Boston", "rock", "album rock", "1976-08-25", "rock", ROCK),
    (9, "Carry On Wayward Son", "Kansas", "rock", "album rock", "1976-10-21", "rock", ROCK),
    (10, "Trap Song", "Rapper One", "rap", "trap", "2018-03-01", "rap", RAP),
    (11, "Street Tale", "Rapper Two", "rap", "trap", "2019-05-01", "rap", RAP),
    (12, "Night Drive", "Rapper Three", "rap", "trap", "2017-02-01", "rap", RAP),
    (13, "Money Moves", "Rapper Four", "rap", "trap", "2019-09-01", "rap", RAP),
    (14, "Block Party", "Rapper Five", "rap", "trap", "2018-07-01", "rap", RAP),
    (15, "Neon Nights", "Modern Star", "pop", "electropop", "2021-04-01", "pop", SYNTH),
    (16, "Summer Crush", "Pop Idol", "pop", "electropop", "2021-06-01", "pop", POP),
    (17, "Heartbeat", "Chart Topper", "pop", "electropop", "2022-02-01", "pop", POP),
    (18, "Glitter", "Sparkle", "pop", "electropop", "2020-11-01", "pop", POP),
    (19, "Daydream", "Popstar", "pop", "electropop", "2021-09-01", "pop", POP),
    (20, "Old River Song", "Lonely Bard", "folk", "traditional", "1969-05-05", None, FOLK),
    (21, "Untitled Demo", "Nobody Known", "", "", "", None, POP),
]
NUMBER = {name: number for number, name, *_ in TRACKS}
TAKE_ON_ME, NEON_NIGHTS, BOHEMIAN = track_id(0), track_id(15), track_id(5)
LONELY_BARD, UNTITLED = track_id(20), track_id(21)


def _row(number: int, name: str, artist: str, genre: str, subgenre: str, date: str,
         playlist: str | None, sound: tuple[float, ...]) -> list[str]:  # fmt: skip
    # Inside a scene, tracks differ a little; Neon Nights is exactly Take On Me.
    step = 0 if number in (0, 15) else number % 5 + 1
    danceability, energy, valence, acousticness, tempo = sound
    return tidy_row(
        track_id(number),
        name,
        artist,
        genre,
        subgenre,
        track_popularity=str(90 - number),
        track_album_release_date=date,
        playlist_id=PLAYLISTS[playlist] if playlist else "",
        playlist_name=playlist or "",
        danceability=f"{danceability + 0.01 * step:.3f}",
        energy=f"{energy - 0.01 * step:.3f}",
        valence=f"{valence + 0.005 * step:.3f}",
        acousticness=f"{acousticness + 0.005 * step:.3f}",
        tempo=f"{tempo + step:.1f}",
        key=str(step % 12),
    )


def write_style_catalog(path: Path) -> Path:
    """The world's rows in the TidyTuesday format."""
    return write_csv(path, TIDY_HEADER, [_row(*track) for track in TRACKS])


async def import_style_world(data_dir: Path, folder: Path) -> None:
    """Import the world into the database of `data_dir` (as `earworm catalog import`)."""
    catalog = write_style_catalog(folder / "style.csv")
    database = await open_database(database_url_in(data_dir))
    try:
        await import_catalog(database, [str(catalog)], download_dir=data_dir / "downloads")
    finally:
        await database.close()


def imported_style_world(data_dir: Path, folder: Path) -> Path:
    asyncio.run(import_style_world(data_dir, folder))
    return data_dir

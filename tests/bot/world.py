"""A small hand-made music world for CLI tests: nine tracks (two versions of one song,
several tracks per artist, a few genres) and feedback written as reactions would be."""

from __future__ import annotations

from pathlib import Path

from storage.database import open_database
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.feedback import FeedbackEvent, record_feedback
from tests.cli import database_url_in
from tests.factories import track_id

FIRST_MESSAGE = 444_444_444_444_444_444

# (number, name, artist, genre, popularity)
TRACKS = [
    (0, "Halo", "Beyoncé", "pop", "80"),
    (1, "Crazy in Love", "Beyoncé", "pop", "90"),
    (2, "Formation", "Beyoncé", "hip hop", "60"),
    (3, "Halo - Live", "Beyoncé", "pop", "95"),
    (4, "Blinding Lights", "The Weeknd", "synth-pop", "85"),
    (5, "Bohemian Rhapsody", "Queen", "rock", "88"),
    (6, "Don't Stop Me Now", "Queen", "rock", "75"),
    (7, "Garage Demo", "Small Band", "indie", "20"),
    (8, "B-Side", "Small Band", "indie", "15"),
]
NAMES = {track_id(number): name for number, name, *_ in TRACKS}
ARTISTS = {track_id(number): artist for number, _, artist, *_ in TRACKS}


async def record(data_dir: Path, events: list[tuple[int, int | None, int, FeedbackKind]]) -> None:
    """(user, server or None for a DM, track number, kind) per event, each on its own
    message, as reactions on the bot's cards arrive."""
    database = await open_database(database_url_in(data_dir))
    try:
        async with database.sessions() as session:
            for offset, (user, server, number, kind) in enumerate(events):
                await record_feedback(
                    session,
                    FeedbackEvent(
                        user_id=user,
                        guild_id=server,
                        track_id=track_id(number),
                        kind=kind,
                        source=FeedbackSource.REACTION,
                        message_id=FIRST_MESSAGE + offset,
                    ),
                )
            await session.commit()
    finally:
        await database.close()

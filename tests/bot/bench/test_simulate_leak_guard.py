"""`earworm simulate`'s leak guard: a simulated member's own playlist is deleted from the
run's database before the bot starts or trains, so the artist relations (fitted from the
catalog's playlists at start-up and in every training) never see a member's hidden taste."""

from __future__ import annotations

from pathlib import Path

from bot.bench.simulate import Taste, hold_out_playlists
from bot.serving.engine import Engine
from bot.settings import load_settings
from storage.database import open_database
from storage.repositories.playlists import playlist_rows
from storage.snapshot import read_snapshot, write_snapshot
from tests.bot.style_world import PLAYLISTS, TAKE_ON_ME, import_style_world
from tests.cli import database_url_in


async def test_the_members_playlists_are_gone_before_anything_learns(
    env: dict[str, str], tmp_path: Path
) -> None:
    data_dir = Path(env["EARWORM_DATA_DIR"])
    await import_style_world(data_dir, tmp_path)
    member = Taste(
        playlist=PLAYLISTS["80s"],
        tracks=frozenset([TAKE_ON_ME]),
        artists=frozenset(["a-ha"]),
        revealed=(TAKE_ON_ME,),
    )
    database = await open_database(database_url_in(data_dir))
    try:
        async with database.sessions() as session:
            before = await playlist_rows(session)
        held_out = await hold_out_playlists(database, [member])

        async with database.sessions() as session:
            after = await playlist_rows(session)
            await write_snapshot(session, tmp_path / "snapshot.npz")  # what training reads
        assert held_out == before.playlists.count(PLAYLISTS["80s"]) == 5
        assert PLAYLISTS["80s"] not in after.playlists
        assert len(after) == len(before) - held_out
        assert PLAYLISTS["80s"] not in read_snapshot(tmp_path / "snapshot.npz").playlists.playlists

        engine = Engine(load_settings(EARWORM_DATA_DIR=str(data_dir)), database)
        await engine.start()  # relations fitted from the playlists left
        assert engine.serving is not None
        relations = engine.serving.similarity.relations.model
        assert relations is not None
        assert relations.neighbours_of("a-ha") == []
        assert relations.neighbours_of("queen")  # other playlists still teach
    finally:
        await database.close()

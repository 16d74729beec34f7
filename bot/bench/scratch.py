"""What `earworm bench bot` and `earworm simulate` run on: the local catalog imported once
into the configured database, and a temporary copy of that database per run, so repeated
runs start from the same state and never change the configured one."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings


async def ensure_local_catalog(settings: Settings, say: Callable[[str], None]) -> None:
    """Import ../shared/data/spotify_catalog into the configured database unless it holds
    tracks. ValueError (the message says what to do) when the folder is missing."""
    from bot.composition import database_for
    from storage.catalog.importer import import_catalog
    from storage.repositories.tracks import catalog_stats

    source = settings.shared_data_dir / "spotify_catalog"
    async with database_for(settings) as database:
        async with database.sessions() as session:
            if (await catalog_stats(session)).tracks:
                return
        if not source.is_dir():
            raise ValueError(f"the local catalog is not at {source}; set EARWORM_SHARED_DATA")
        say(f"importing {source} ...")
        await import_catalog(database, [str(source)], download_dir=settings.data_dir / "dl")


@contextlib.contextmanager
def scratch_data_dir(settings: Settings, command: str) -> Iterator[Settings]:
    """The settings with a temporary data directory holding a copy of the database: the
    run's feedback and models never mix with the real ones. The content model (a cache
    keyed by the catalog) is shared through a link, and registered artifacts keep their
    absolute paths."""
    from storage.engine import is_sqlite

    url = settings.resolved_database_url
    if not is_sqlite(url):
        raise ValueError(
            f"{command} works on a copy of an SQLite database; unset EARWORM_DATABASE_URL"
        )
    source = Path(make_url(url).database or "")
    content = (settings.data_dir / "models" / "content").resolve()
    content.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"earworm-{command}-") as folder:
        data_dir = Path(folder)
        shutil.copyfile(source, data_dir / "earworm.db")
        (data_dir / "models").mkdir()
        (data_dir / "models" / "content").symlink_to(content, target_is_directory=True)
        yield settings.model_copy(update={"data_dir": data_dir, "database_url": None})

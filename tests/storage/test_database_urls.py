"""Database URLs as people write them: the driver Earworm needs is chosen, anything else is
one clear line that never shows the password. No server needed."""

from __future__ import annotations

import pytest

from storage.engine import make_engine, normalize_url
from storage.errors import DatabaseUnavailableError


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("sqlite:///data/earworm.db", "sqlite+aiosqlite:///data/earworm.db"),
        ("sqlite+pysqlite:///data/earworm.db", "sqlite+aiosqlite:///data/earworm.db"),
        ("postgres://bot:pw@db/earworm", "postgresql+asyncpg://bot:pw@db/earworm"),
        ("postgresql://bot:pw@db:5433/earworm", "postgresql+asyncpg://bot:pw@db:5433/earworm"),
    ],
)
def test_the_async_driver_is_chosen(written: str, used: str) -> None:
    assert normalize_url(written) == used


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://bot:hunter2@db:port/earworm", "cannot be read"),
        ("mysql://bot:hunter2@db/earworm", "runs on SQLite or PostgreSQL"),
        ("postgresql+psycopg2://bot:hunter2@db/earworm", "through asyncpg"),
    ],
)
def test_other_urls_are_refused_in_one_line_without_the_password(url: str, says: str) -> None:
    with pytest.raises(DatabaseUnavailableError, match=says) as caught:
        make_engine(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "\n" not in message

"""Alembic migrations, shipped with the package so `earworm db upgrade` works anywhere."""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent

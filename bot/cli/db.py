"""`earworm db`: the schema (upgrade, downgrade), backups, and moving a deployment from
SQLite to PostgreSQL (`migrate-sqlite-to-postgres`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.cli.common import fail, run, settings_of
from bot.settings import Settings
from storage import migrate
from storage.engine import is_postgres
from storage.transfer import BATCH_SIZE, TransferReport, copy_sqlite_to_postgres


@click.group()
def db() -> None:
    """Database schema and backups."""


async def _migrate(settings: Settings, action: str, revision: str) -> str | None:
    """Run one migration command and return the revision the database ends at."""
    from storage.engine import make_engine

    engine = make_engine(settings.resolved_database_url)
    try:
        await getattr(migrate, action)(engine, revision)
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply migrations (every command that needs the database does this by itself)."""
    click.echo(f"database at revision {run(_migrate(settings_of(ctx), 'upgrade', revision))}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Revert migrations down to REVISION ("base" removes every table)."""
    reached = run(_migrate(settings_of(ctx), "downgrade", revision))
    click.echo(f"database at revision {reached or 'base'}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@click.pass_context
def db_backup(ctx: click.Context, path: Path, force: bool) -> None:
    """Copy the live SQLite database to PATH, consistent even while the bot writes."""
    from storage.backup import backup_sqlite, pg_dump_hint, sqlite_path
    from storage.engine import is_sqlite

    url = settings_of(ctx).resolved_database_url
    if not is_sqlite(url):
        fail(pg_dump_hint(url, str(path)))
    result = backup_sqlite(sqlite_path(url), path, force=force)
    size = result.bytes / 1_000_000
    click.echo(
        f"backed up {result.source} to {result.target} ({size:.1f} MB in {result.seconds:.1f} s)"
    )


def _print_report(report: TransferReport) -> None:
    click.echo(
        f"Copied {report.source} (snapshot at {report.snapshot_at:%Y-%m-%d %H:%M:%S} UTC) "
        f"into {report.target} in {report.seconds:.1f} s"
    )
    width = max(len(count.table) for count in report.tables)
    click.echo(f"  {'table':<{width}}  {'SQLite':>10}  {'PostgreSQL':>10}")
    for count in report.tables:
        click.echo(f"  {count.table:<{width}}  {count.source:>10,}  {count.target:>10,}")
    total = sum(count.source for count in report.tables)
    click.echo(f"  {'total':<{width}}  {total:>10,}  {report.rows:>10,}")
    click.echo(
        "Every table counts the same rows on both sides. Rows written to SQLite after the "
        "snapshot are not copied: stop the bot before switching EARWORM_DATABASE_URL."
    )


@db.command("migrate-sqlite-to-postgres")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="SQLITE",
    help="The SQLite database: a file path or an sqlite:/// URL (it may be in use).",
)
@click.option(
    "--to",
    "target",
    metavar="POSTGRES_URL",
    help="An empty PostgreSQL database (default: EARWORM_DATABASE_URL when it is PostgreSQL).",
)
@click.option(
    "--batch-size",
    default=BATCH_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows per insert.",
)
@click.option(
    "--scratch-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the snapshot of the SQLite file waits (default: the temporary folder).",
)
@click.pass_context
def migrate_sqlite_to_postgres(
    ctx: click.Context,
    source: str,
    target: str | None,
    batch_size: int,
    scratch_dir: Path | None,
) -> None:
    """Copy every row of an SQLite deployment into an empty PostgreSQL database.

    The SQLite file is read through a consistent snapshot, so the bot may keep running;
    the copy commits only when every table counts the same rows on both sides."""
    if target is None:
        configured = settings_of(ctx).database_url
        if not configured or not is_postgres(configured):
            fail("give --to POSTGRES_URL (EARWORM_DATABASE_URL is not a PostgreSQL URL)")
        target = configured

    def progress(table: str, rows: int) -> None:
        # On a terminal only: scripts get the report, or one line when it fails.
        if sys.stderr.isatty():
            click.echo(f"  copied {table}: {rows:,} rows", err=True)

    _print_report(
        run(
            copy_sqlite_to_postgres(
                source, target, batch_size=batch_size, scratch_dir=scratch_dir, on_table=progress
            )
        )
    )


COMMANDS = [db]

"""`earworm models list|rollback`: the model registry from a shell.

A rollback here is the same as `/admin rollback`: the registry switches at once, and a
running bot on the same database swaps the models in within EARWORM_REGISTRY_POLL_SECONDS
(requests in flight finish on the old ones).
"""

from __future__ import annotations

import click

from bot.cli.common import fail, print_json, run, settings_of

KIND_CHOICES = ("als", "ncf", "hybrid", "artists")


@click.group("models")
def command() -> None:
    """List the registered model versions or roll one back."""


@command.command("list")
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Only this kind of model.")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
@click.pass_context
def list_versions(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """Every registered version, newest first, with its status and figures."""
    from bot.composition import database_for
    from storage.repositories.registry import ModelRecord, list_models

    settings = settings_of(ctx)

    async def read() -> list[ModelRecord]:
        async with database_for(settings) as database, database.sessions() as session:
            return await list_models(session, kind)

    records = run(read())
    if as_json:
        print_json(
            [
                {
                    "kind": r.kind,
                    "version": r.version,
                    "status": r.status.value,
                    "trained_at": r.trained_at.isoformat() if r.trained_at else None,
                    "training_rows": r.training_rows,
                    "ndcg@10": r.metrics.get("ndcg@10"),
                    "artifact_path": r.artifact_path,
                    "note": r.note,
                }
                for r in records
            ]
        )
        return
    if not records:
        click.echo("No models are registered yet. Train some with `earworm train`.")
        return
    for r in records:
        when = r.trained_at.strftime("%Y-%m-%d %H:%M UTC") if r.trained_at else "not trained"
        ndcg = r.metrics.get("ndcg@10")
        figures = f"  NDCG@10 {ndcg:.3f}" if isinstance(ndcg, int | float) else ""
        rows = f"  {r.training_rows:,} rows" if r.training_rows is not None else ""
        click.echo(f"{r.kind} v{r.version}  {r.status.value:<9} {when}{rows}{figures}")
        if r.note and r.status.value in ("rejected", "failed"):
            click.echo(f"    {r.note}")


@command.command("rollback")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--kind", type=click.Choice(KIND_CHOICES), help="Needed when kinds share VERSION.")
@click.pass_context
def rollback(ctx: click.Context, version: int, kind: str | None) -> None:
    """Make VERSION the active model of its kind again."""
    from bot.composition import database_for
    from bot.errors import UserFacingError
    from bot.learning.admin import SHELL_HINTS, Rollback
    from bot.learning.admin import rollback as roll_back

    settings = settings_of(ctx)

    async def switch() -> Rollback:
        async with database_for(settings) as database:
            return await roll_back(database, version, kind, SHELL_HINTS)

    try:
        done = run(switch())
    except UserFacingError as exc:
        fail(str(exc))
    before = f"v{done.previous.version}" if done.previous else "none"
    click.echo(
        f"Rolled back {done.kind}: {before} → v{done.now_active.version}. A running bot "
        f"serves it within {settings.registry_poll_seconds:.0f} s."
    )


COMMANDS = [command]

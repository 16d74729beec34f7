"""`earworm bench`: placeholder replaced below."""

import click


@click.group()
def bench() -> None:
    """Benchmarks that print the figures the issues ask for."""

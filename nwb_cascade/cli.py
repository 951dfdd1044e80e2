"""The ``nwb-cascade`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
import sys

import click

from . import __version__
from .cascade import CascadeError, download_model, list_models


@click.group()
@click.version_option(__version__, prog_name="nwb-cascade")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Cascade spike inference for NWB files."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.group()
def models() -> None:
    """The published Cascade model zoo."""


@models.command("list")
@click.option("--cached", is_flag=True, help="Only models already in the local cache.")
@click.argument("pattern", required=False)
def models_list(cached: bool, pattern: str | None) -> None:
    """List published models (optionally those whose name contains PATTERN)."""
    for row in list_models():
        if (cached and not row["cached"]) or (pattern and pattern.lower() not in row["name"].lower()):
            continue
        click.echo(f"{'*' if row['cached'] else ' '} {row['name']}")


@models.command("download")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Download again even if cached.")
def models_download(names: tuple[str, ...], force: bool) -> None:
    """Download published models into the cache."""
    for name in names:
        click.echo(download_model(name, force=force, progress=True))


def run() -> None:
    """Entry point that turns the engine's errors into one-line messages."""
    try:
        main(standalone_mode=False)
    except CascadeError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)

"""The DANDI archive and the local cache: ``dandi ls``, ``cache info|clear``."""

from __future__ import annotations

import click

from .base import Command, Group


@click.group("dandi", cls=Group)
def dandi_group() -> None:
    """Browse the DANDI archive."""


@dandi_group.command("ls", cls=Command)
@click.argument("dandiset")
@click.option("--glob", "pattern", default=None, help="Only asset paths matching this pattern (default: *.nwb).")
def dandi_ls(dandiset: str, pattern: str | None) -> None:
    """List the NWB assets of DANDISET (DANDI:000728, 000728, a dandiarchive.org URL; optionally a version)."""
    from ..nwb.sources import list_assets

    assets = list_assets(dandiset, pattern)
    for asset in assets:
        click.echo(f"{asset.size / 1e6:10.1f} MB  {asset.reference}")
    click.echo(f"{len(assets)} assets, {sum(a.size for a in assets) / 1e9:.2f} GB")


def register(group: click.Group) -> None:
    group.add_command(dandi_group)

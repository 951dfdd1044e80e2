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


@click.group("cache", cls=Group)
def cache_group() -> None:
    """The stream cache: blocks of remote files read before (a rerun reads them from disk)."""


@cache_group.command("info")
def cache_info() -> None:
    """List what the stream cache holds, file by file."""
    from ..nwb.sources import stream_cache_dir
    from ..nwb.stream import cache_contents

    folder = stream_cache_dir()
    contents = cache_contents(folder)
    for entry in contents:
        click.echo(f"{entry.bytes / 1e6:10.1f} MB  {entry.blocks:6d} blocks  {entry.url}")
    click.echo(f"{len(contents)} file(s), {sum(entry.bytes for entry in contents) / 1e6:.1f} MB in {folder}")


@cache_group.command("clear")
def cache_clear() -> None:
    """Empty the stream cache (remote files are read from their servers again)."""
    from ..nwb.sources import stream_cache_dir
    from ..nwb.stream import clear_cache

    files, removed = clear_cache(stream_cache_dir())
    click.echo(f"removed {files} file(s), {removed / 1e6:.1f} MB from {stream_cache_dir()}")


def register(group: click.Group) -> None:
    group.add_command(dandi_group)
    group.add_command(cache_group)

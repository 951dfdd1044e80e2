"""The ``nwb-cascade`` command line: a thin layer over the Python API."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import __version__
from .cascade import CascadeError, download_model, list_models
from .nwb.read import NWBInputError
from .nwb.write import NWBWriteError


def _threshold(value: str) -> int | bool:
    return False if value == "off" else int(value)


@click.group()
@click.version_option(__version__, prog_name="nwb-cascade")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Cascade spike inference for NWB files."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False))
def inspect_command(file: str) -> None:
    """List the RoiResponseSeries of FILE that Cascade can use (* = the default)."""
    from .run import inspect

    found = inspect(file)
    if not found["series"]:
        click.echo("no RoiResponseSeries in DfOverF or Fluorescence containers")
    for row in found["series"]:
        mark = "*" if row["default"] else " "
        irregular = " (irregular timestamps)" if row["irregular_timestamps"] else ""
        click.echo(
            f"{mark} {row['path']}  [{row['kind']}] {row['rois']} ROIs x {row['frames']} frames, "
            f"{row['frame_rate']:.4g} Hz{irregular}, unit {row['unit']!r}, noise levels {row['noise_min']:.2f}-"
            f"{row['noise_max']:.2f} (median {row['noise_median']:.2f})"
        )
    for name in found["results"]:
        click.echo(f"  results: {name}")


@main.command("infer")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--series", default=None, help="Path of the RoiResponseSeries (default: the only ΔF/F series).")
@click.option("--model", default=None, help="Model name or folder (default: a published model for the frame rate).")
@click.option("--in-place", "in_place", is_flag=True, help="Add the results to FILE itself.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="New NWB file for the results (default: FILE with .cascade.nwb).")
@click.option("--overwrite", is_flag=True, help="Replace existing results / an existing output file.")
@click.option("--no-discrete-spikes", is_flag=True, help="Only spike rates.")
@click.option("--threshold", type=click.Choice(["0", "1", "off"]), default="0", show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:1... (default: CUDA when present).")
def infer_command(file: str, series: str | None, model: str | None, in_place: bool, output: str | None,
                  overwrite: bool, no_discrete_spikes: bool, threshold: str, device: str | None) -> None:
    """Infer spike rates (and discrete spikes) for FILE and write them as NWB."""
    from .run import annotate, infer

    options = dict(series=series, model=model, discrete_spikes=not no_discrete_spikes, overwrite=overwrite,
                   threshold=_threshold(threshold), device=device, progress=True)
    if in_place and output:
        raise click.UsageError("--in-place and --output exclude each other")
    if in_place:
        summary = annotate(file, **options)
    else:
        target = Path(output) if output else Path(file).with_suffix(".cascade.nwb")
        summary = infer(file, target, **options)
    spikes = "" if summary.n_spikes is None else f", {summary.n_spikes} spikes"
    click.echo(
        f"{summary.output}: {summary.container} from {summary.series} ({summary.n_rois} ROIs x {summary.n_frames} "
        f"frames at {summary.frame_rate:.4g} Hz, noise median {summary.noise_median:.2f}, model {summary.model}"
        f"{spikes}) in {summary.seconds:.1f} s"
    )


@main.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--rois", default=None, help="Comma-separated ROI indices (default: the most active).")
@click.option("--results", "container", default=None, help="Results container name (default: the first).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Image file (default: FILE with .cascade.png).")
def plot_command(file: str, rois: str | None, container: str | None, out: str | None) -> None:
    """Draw ΔF/F, spike rates and spikes of chosen ROIs, and the ROIs' noise levels."""
    from .plot import plot_results

    chosen = [int(v) for v in rois.split(",")] if rois else None
    target = out or str(Path(file).with_suffix(".cascade.png"))
    plot_results(file, rois=chosen, container=container, out=target)
    click.echo(target)


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
    """Entry point that turns known errors into one-line messages (exit status 2)."""
    try:
        main(standalone_mode=False)
    except (CascadeError, NWBInputError, NWBWriteError, FileNotFoundError, FileExistsError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)

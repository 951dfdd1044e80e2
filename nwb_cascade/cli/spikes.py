"""Spike inference: ``example``, ``inspect``, ``infer``, ``allen``, ``batch``, ``summarize``, ``plot``."""

from __future__ import annotations

import sys

import click

from ..options import RunOptions
from .base import Command, UserError, output_option, overwrite_option, parse_list
from .options import options_of

SOURCE_HELP = ("a local NWB file, an http(s) URL, or a DANDI asset in any form DANDI users paste "
               "(DANDI:000728/sub-.../file.nwb, dandi://DANDI/000728@draft/sub-.../file.nwb, a dandiarchive.org URL)")


@click.command("example", cls=Command)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default="example.nwb", help="The file to write.")
@click.option("--layout", type=click.Choice(["visual_coding", "visual_behavior", "fluorescence"]),
              default="visual_coding",
              help="Where the traces sit: the Allen Visual Coding or Visual Behavior ΔF/F, or raw fluorescence.")
@click.option("--allen", "allen_excerpt", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The real Allen Brain Observatory excerpt (a .mat file of dF_traces at 30 Hz) instead of "
                   "simulated traces.")
@overwrite_option("an existing file")
def example_command(output: str, layout: str, allen_excerpt: str | None, overwrite: bool) -> None:
    """Write an example NWB file to try the package on: 40 simulated GCaMP6f-like neurons, 5 minutes at
    30 Hz (or a real Allen excerpt), ready for `nwb-cascade infer`."""
    from ..nwb.example import write_example

    click.echo(write_example(output, layout=layout, allen_excerpt=allen_excerpt, overwrite=overwrite))


@click.command("inspect", cls=Command, help="List every RoiResponseSeries of FILE: what each holds, what a run with these "
                                "options takes it for and why (* marks what it runs), and the results FILE holds.  "
                                f"FILE is {SOURCE_HELP}.")
@click.argument("file")
@options_of(RunOptions)
def inspect_command(file: str, options: RunOptions) -> None:
    from ..spike_inference import inspect

    click.echo(inspect(file, options=options).describe())


@click.command("infer", cls=Command, help=f"Infer spike rates (and discrete spikes) for FILE and write them as NWB.  FILE is "
                             f"{SOURCE_HELP}; a remote FILE is streamed (only the bytes the run needs).")
@click.argument("file")
@options_of(RunOptions, progress=True)
@output_option("New NWB file for the results; a name ending in .lindi.tar writes, for a remote FILE, a LINDI "
               "amendment that references FILE by URL (no copy of it)",
               default="FILE with .cascade.nwb; for a remote FILE, named after it in the working directory")
@click.option("--in-place", is_flag=True, help="Add the results to FILE itself (only adds; a local file).")
@overwrite_option("existing results / an existing output file")
def infer_command(file: str, options: RunOptions, output: str | None, in_place: bool, overwrite: bool) -> None:
    from ..spike_inference import infer

    click.echo(infer(file, output, in_place=in_place, overwrite=overwrite, options=options).describe())


@click.command("allen", cls=Command)
@click.argument("session")
@options_of(RunOptions, progress=True)
@output_option("New NWB file for the results; a name ending in .lindi.tar writes a LINDI amendment that references "
               "the session by URL", default="named after the session's file, in the working directory")
@overwrite_option("an existing output file")
def allen_command(session: str, options: RunOptions, output: str | None, overwrite: bool) -> None:
    """Infer spikes for an Allen Brain Observatory session (Visual Coding or Visual Behavior 2-photon).

    SESSION is an Allen experiment or session id (looked up in dandisets 000728 and 000711: its processed
    file), a DANDI asset, a URL or a local file.  The model follows the indicator (GCaMP6f or GCaMP6s).
    """
    from ..allen import process_session

    click.echo(process_session(session, output, overwrite=overwrite, options=options).describe())


@click.command("batch", cls=Command)
@click.argument("sources", nargs=-1, required=True)
@options_of(RunOptions)
@output_option("Output folder: one results file per session, manifest.csv and logs/", folder=True)
@click.option("--glob", default=None,
              help="Only files whose path in their dandiset or folder matches (fnmatch, e.g. 'sub-*/*ophys*').")
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local cluster: worker processes (default: one per core).")
@click.option("--dandi-layout", is_flag=True,
              help="Name the outputs as `dandi organize` does and write a dandiset.yaml draft: a derived dandiset.")
@click.option("--checksum", is_flag=True,
              help="Record each local source's SHA-256 and tell changed sources by it (reads every source on reruns).")
@overwrite_option("the results of sessions already done (they run again with these options)")
def batch_command(sources: tuple[str, ...], options: RunOptions, output: str | None, glob: str | None,
                  scheduler: str | None, workers: int | None, dandi_layout: bool, checksum: bool,
                  overwrite: bool) -> None:
    """Infer spikes for every session in SOURCES (files, folders, URLs, DANDI:000728) on a Dask cluster.

    Reruns into the same --output skip the sessions that are done and retry the others.  --device: the
    default is cuda on workers that declare the Dask resource GPU.  The exit status is 1 when a session
    failed (manifest.csv says why, logs/ has the whole message).
    """
    from ..batch import batch

    if output is None:
        raise click.UsageError("give the output folder: -o/--output DIR")
    summary = batch(sources, output, options=options, glob=glob, scheduler=scheduler, workers=workers,
                    dandi_layout=dandi_layout, checksum=checksum, overwrite=overwrite)
    click.echo(summary.table())
    if summary.failed:
        sys.exit(1)


@click.command("summarize", cls=Command)
@click.argument("folder")
@output_option("Folder of the summary", folder=True, default="FOLDER/summary; needed for a dandiset or URL")
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local cluster: worker processes (default: one per core; 1 reads in this process).")
@click.option("--depth-bins", default=None, help="Edges of the depth bins in µm, e.g. 0,200,300,400,500,1000.")
@click.option("--no-figures", is_flag=True, help="Only the tables and the fit.")
def summarize_command(folder: str, output: str | None, scheduler: str | None, workers: int | None,
                      depth_bins: str | None, no_figures: bool) -> None:
    """Summarise the results of a batch folder (or a dandiset of results): a table of every ROI (Parquet and
    CSV), per-session statistics, a log-normal fit of the rates and the figures of the Cascade paper's
    Allen analysis."""
    from ..summarize import DEPTH_BINS, summarize

    bins = parse_list(depth_bins, float, "comma-separated depths in µm", "0,200,300,400,500,1000")
    summary = summarize(folder, output, scheduler=scheduler, workers=workers, depth_bins=tuple(bins or DEPTH_BINS),
                        figures=not no_figures)
    click.echo(summary.describe())


@click.command("plot", cls=Command)
@click.argument("file", type=click.Path(dir_okay=False))
@output_option("Image file; its extension picks the format (.png, .pdf, .svg...)", default="FILE with .png")
@click.option("--rois", default=None, help="Comma-separated ROI indices (default: the most active).")
@click.option("--max-rois", type=click.IntRange(min=1), default=6, help="ROIs drawn when --rois is not given.")
@click.option("--results", "container", default=None, help="Results container name (default: the first).")
@click.option("--window", default=None, help="Only this stretch, START:STOP in seconds (e.g. 120:150).")
def plot_command(file: str, output: str | None, rois: str | None, max_rois: int, container: str | None,
                 window: str | None) -> None:
    """Draw ΔF/F, spike rates and spikes of chosen ROIs of FILE (Cascade results), and the ROIs' noise levels."""
    from ..nwb.target import default_output
    from ..plot import close, plot_results

    chosen = parse_list(rois, int, "comma-separated ROI indices", "0,5,9")
    span = parse_list(window.replace(":", ",") if window else None, float, "START:STOP in seconds", "120:150")
    if span is not None and len(span) != 2:
        raise click.BadParameter(f"{window!r} is not START:STOP in seconds (e.g. 120:150)")
    target = output or str(default_output(file, "", extension=".png"))
    close(plot_results(file, rois=chosen, container=container, out=target, window=tuple(span) if span else None,
                       max_rois=max_rois))
    click.echo(target)


def register(group: click.Group) -> None:
    for command in (example_command, inspect_command, infer_command, allen_command, batch_command, summarize_command,
                    plot_command):
        group.add_command(command)


__all__ = ["UserError", "register"]

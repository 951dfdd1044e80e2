"""The ``nwb-cascade`` command line: a thin layer over the Python API."""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path

import click

from . import __version__
from .cascade import download_model, list_models
from .common.errors import Interrupted, NWBCascadeError
from .nwb.sources import default_output


def _threshold(value: str) -> int | bool:
    return False if value == "off" else int(value)


DEVICE_HELP = "cpu, cuda, cuda:1... (default: CUDA when present)."


def device_option(command):
    return click.option("--device", default=None, help=DEVICE_HELP)(command)


def overwrite_option(what: str):
    return click.option("--overwrite", is_flag=True, help=f"Replace {what}.")


def run_options(command):
    """The options of a spike-inference run (--series, --model, --no-discrete-spikes, --threshold, --device, and how
    ΔF/F is computed from fluorescence), given to the command as one :class:`RunOptions` named ``options``;
    their defaults are RunOptions' and DffRecipe's."""
    from .cascade import DffRecipe
    from .spike_inference import RunOptions

    defaults, recipe = RunOptions(), DffRecipe()

    @functools.wraps(command)
    def with_options(**values):
        chosen = DffRecipe(neuropil_coefficient=values.pop("neuropil_coefficient"), window=values.pop("baseline_window"))
        options = RunOptions(series=values.pop("series"), model=values.pop("model"),
                             discrete_spikes=not values.pop("no_discrete_spikes"),
                             threshold=_threshold(values.pop("threshold")), device=values.pop("device"),
                             compute_dff=not values.pop("no_compute_dff"), dff_recipe=chosen, progress=True)
        return command(options=options, **values)

    declared = [
        click.option("--series", default=defaults.series,
                     help="Which RoiResponseSeries: a path, its end, a glob, or 'all' (default: every plane's ΔF/F, "
                          "or ΔF/F computed from its fluorescence)."),
        click.option("--model", default=None,
                     help="Model name or folder (default: the one the indicator and frame rate call for)."),
        click.option("--no-discrete-spikes", is_flag=True, default=not defaults.discrete_spikes,
                     help="Only spike rates."),
        click.option("--threshold", type=click.Choice(["0", "1", "off"]), default=str(defaults.threshold),
                     show_default=True, help="0: negatives to 0; 1: also below 1/e of one spike's height; off: raw."),
        click.option("--device", default=defaults.device, help=DEVICE_HELP),
        click.option("--no-compute-dff", is_flag=True, default=not defaults.compute_dff,
                     help="Never compute ΔF/F from fluorescence (files without ΔF/F are refused)."),
        click.option("--neuropil-coefficient", type=float, default=recipe.neuropil_coefficient, show_default=True,
                     help="c in F - c * Fneu, when ΔF/F is computed."),
        click.option("--baseline-window", type=float, default=recipe.window, show_default=True,
                     help="Seconds of the running min/max (maximin) baseline F0, when ΔF/F is computed."),
    ]
    for option in reversed(declared):
        with_options = option(with_options)
    return with_options


class UserError(click.ClickException):
    """An error of the package's (NWBCascadeError) on the command line: ``error: <message>``, exit status 2,
    or 128 + the signal's number for an interrupted run."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _Commands(click.Group):
    """The command group; the one place where the package's errors become one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Interrupted as error:
            failure = UserError(str(error))
            failure.exit_code = 128 + (error.signal_number or 2)
            raise failure from error
        except (NWBCascadeError, FileNotFoundError, FileExistsError) as error:
            raise UserError(str(error)) from error


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="nwb-cascade")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Cascade spike inference for NWB files."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command("inspect")
@click.argument("file")
def inspect_command(file: str) -> None:
    """List every RoiResponseSeries of FILE (local, URL or DANDI asset): what each holds, and which a run uses (*)."""
    from .spike_inference import inspect

    found = inspect(file)
    if not found["series"]:
        click.echo("no RoiResponseSeries in any processing module")
    for row in found["series"]:
        mark = "*" if row["default"] else " "
        if row["problem"]:
            click.echo(f"{mark} {row['path']}  [{row['kind']}, {row['role']}] not used: {row['problem']}")
            continue
        irregular = " (irregular timestamps)" if row["irregular_timestamps"] else ""
        transposed = " (stored ROIs x frames)" if row["transposed"] else ""
        line = (f"{mark} {row['path']}  [{row['kind']}, {row['role']}] {row['rois']} ROIs x {row['frames']} frames, "
                f"{row['frame_rate']:.4g} Hz{irregular}{transposed}, unit {row['unit']!r}")
        if row["default"]:
            source = ""
            if row["dff_computed"]:
                source = "ΔF/F computed" + (f" with neuropil {row['neuropil']}" if row["neuropil"] else " (no neuropil)")
                source += ", "
            line += (f"; {source}noise levels {row['noise_min']:.2f}-{row['noise_max']:.2f} "
                     f"(median {row['noise_median']:.2f})")
        click.echo(line)
    if found["problem"]:
        click.echo(f"a run with no --series would fail: {found['problem']}")
    for name in found["results"]:
        expected = found["expected"].get(name)
        note = "" if not expected else (
            f" (expected at the ROIs' noise levels, median: r {expected['correlation']:.2f}, error "
            f"{expected['error']:.2f}, bias {expected['bias']:+.2f})")
        click.echo(f"  results: {name}{note}")


@main.command("infer")
@click.argument("file")
@run_options
@click.option("--in-place", "in_place", is_flag=True, help="Add the results to FILE itself.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="New NWB file for the results (default: FILE with .cascade.nwb; for remote sources a name from "
                   "the asset path, in the working directory).")
@click.option("--lindi", type=click.Path(dir_okay=False), default=None,
              help="For a remote FILE: write the results as a LINDI amendment OUT.nwb.lindi.tar that references "
                   "FILE by URL (no copy of it).")
@overwrite_option("existing results / an existing output file")
def infer_command(file: str, options, in_place: bool, output: str | None, lindi: str | None, overwrite: bool) -> None:
    """Infer spike rates (and discrete spikes) for FILE and write them as NWB.

    FILE is a local NWB file, an http(s) URL or a DANDI asset (DANDI:000728/sub-.../file.nwb[@VERSION],
    or a DANDI web or API URL); remote files are streamed, and their results go to a new local file.
    """
    from .nwb.sources import resolve
    from .spike_inference import amend_with, annotate_with, infer_with

    if sum(bool(value) for value in (in_place, output, lindi)) > 1:
        raise click.UsageError("--in-place, --output and --lindi exclude each other")
    if lindi:
        summary = amend_with(file, Path(lindi), options, overwrite=overwrite)
    elif in_place:
        summary = annotate_with(resolve(file), options, overwrite=overwrite)
    else:
        summary = infer_with(file, Path(output) if output else default_output(file), options, overwrite=overwrite)
    click.echo(summary.describe())


@main.command("allen")
@click.argument("session")
@run_options
@click.option("--out", "-o", "output", type=click.Path(dir_okay=False), default=None,
              help="New NWB file for the results (default: named after the asset, in the working directory).")
@overwrite_option("an existing output file")
def allen_command(session: str, options, output: str | None, overwrite: bool) -> None:
    """Infer spikes for an Allen Brain Observatory session (Visual Coding or Visual Behavior 2-photon).

    SESSION is an Allen experiment or session id (looked up in dandisets 000728 and 000711: its processed
    file), a DANDI asset, a URL or a local file.  The model follows the indicator (GCaMP6f or GCaMP6s).
    """
    from .allen import process_session

    click.echo(process_session(session, output, options, overwrite=overwrite).describe())


@main.group("dandi")
def dandi_group() -> None:
    """Browse the DANDI archive."""


@dandi_group.command("ls")
@click.argument("dandiset")
@click.option("--glob", "pattern", default=None, help="Only asset paths matching this pattern (default: *.nwb).")
def dandi_ls(dandiset: str, pattern: str | None) -> None:
    """List the NWB assets of DANDISET (DANDI:000728 or 000728, optionally @VERSION) with their sizes."""
    from .nwb.sources import list_assets

    assets = list_assets(dandiset, glob=pattern)
    for asset in assets:
        click.echo(f"{asset.size / 1e6:10.1f} MB  {asset.reference}")
    click.echo(f"{len(assets)} assets, {sum(a.size for a in assets) / 1e9:.2f} GB")


@main.command("plot")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--rois", default=None, help="Comma-separated ROI indices (default: the most active).")
@click.option("--results", "container", default=None, help="Results container name (default: the first).")
@click.option("--window", default=None, help="Only this stretch, START:STOP in seconds (e.g. 120:150).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Image file (default: FILE with .png for .nwb).")
def plot_command(file: str, rois: str | None, container: str | None, window: str | None, out: str | None) -> None:
    """Draw ΔF/F, spike rates and spikes of chosen ROIs, and the ROIs' noise levels."""
    from .plot import plot_results

    chosen = [int(v) for v in rois.split(",")] if rois else None
    span = None
    if window is not None:
        try:
            start, stop = (float(v) for v in window.split(":"))
        except ValueError:
            raise click.BadParameter(f"{window!r} is not START:STOP in seconds (e.g. 120:150)") from None
        span = (start, stop)
    target = out or str(default_output(file, "", extension=".png"))
    plot_results(file, rois=chosen, container=container, out=target, window=span)
    click.echo(target)


@main.group("ground-truth")
def ground_truth() -> None:
    """The public Cascade ground truth (simultaneous imaging and electrophysiology)."""


@ground_truth.command("list")
@click.argument("directory", type=click.Path(file_okay=False), required=False)
def ground_truth_list(directory: str | None) -> None:
    """Print a table of the datasets in DIRECTORY (default: the downloaded database)."""
    from .cascade.ground_truth import dataset_folders, default_ground_truth_dir, summarize_dataset

    click.echo("| dataset | neurons | recordings | frame rate (Hz) | duration (s) | spikes | spikes/s | noise level |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for folder in dataset_folders(directory or default_ground_truth_dir()):
        row = summarize_dataset(folder)
        click.echo(f"| {row.name} | {row.neurons} | {row.recordings} | {row.frame_rate:.1f} | {row.duration_s:.0f} | "
                   f"{row.spikes} | {row.spike_rate:.2f} | {row.noise_level:.2f} |")


@ground_truth.command("download")
@click.argument("directory", type=click.Path(file_okay=False), required=False)
@click.option("--url", default=None, help="Archive URL (default: the published repository's archive).")
@click.option("--sha256", default=None, help="Expected SHA-256 of the archive.")
def ground_truth_download(directory: str | None, url: str | None, sha256: str | None) -> None:
    """Download the public ground truth into DIRECTORY (default: the user data directory)."""
    from .cascade.ground_truth import GROUND_TRUTH_URL, download_ground_truth

    click.echo(download_ground_truth(directory, url=url or GROUND_TRUTH_URL, sha256=sha256))


@main.command("train")
@click.argument("config", type=click.Path(dir_okay=False), required=False)
@click.option("--ground-truth", "ground_truth_dir", type=click.Path(file_okay=False), default=None,
              help="Ground-truth folder (default: the downloaded database).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Model folder (default: model_name).")
@click.option("--match", "match", type=click.Path(dir_okay=False), default=None,
              help="Write a config matched to this NWB file's series (frame rate, noise levels) and train it.")
@click.option("--series", default=None, help="With --match: the RoiResponseSeries.")
@click.option("--ensemble-size", type=int, default=None, help="Members per noise level (default: the config's).")
@click.option("--epochs", type=int, default=None, help="Override the published epoch rule.")
@device_option
def train_command(config: str | None, ground_truth_dir: str | None, out: str | None, match: str | None,
                  series: str | None, ensemble_size: int | None, epochs: int | None, device: str | None) -> None:
    """Train a model folder from CONFIG.yaml, or one matched to an NWB file (--match)."""
    from .cascade.ground_truth import default_ground_truth_dir
    from .cascade.model import read_config
    from .cascade.train import train
    from .spike_inference import matched_training_config

    root = Path(ground_truth_dir) if ground_truth_dir else default_ground_truth_dir()
    if (config is None) == (match is None):
        raise click.UsageError("give either CONFIG.yaml or --match FILE.nwb")
    settings = matched_training_config(match, root, series=series) if match else read_config(config)
    if ensemble_size is not None:
        settings["ensemble_size"] = ensemble_size
    model = train(settings, root, out, device=device, epochs=epochs)
    click.echo(f"{model.path}: {model.name}, {model.frame_rate:g} Hz, smoothing {model.smoothing * 1000:g} ms, "
               f"noise levels {', '.join(f'{v:g}' for v in model.noise_levels)}")


@main.command("evaluate")
@click.argument("target")
@click.option("--ground-truth", "ground_truth_dir", type=click.Path(file_okay=False), default=None,
              help="Ground-truth folder (default: the downloaded database).")
@click.option("--noise-levels", default=None,
              help="Comma-separated levels to test at (default: the config's; for a model, 2,4).")
@click.option("--datasets", default=None,
              help="Comma-separated datasets to hold out (default: a config's training datasets; for a model, "
                   "those it was not trained on).")
@click.option("--reference", default=None,
              help="A model: compare with this model (default: the published general model for its rate, if cached).")
@click.option("--kernel", type=float, default=None,
              help="A model: σ (ms) of the common kernel both are scored against (default: the model's smoothing).")
@click.option("--write-accuracy", is_flag=True,
              help="A model: write the scores by noise level into its folder (expected_accuracy.csv).")
@click.option("--workdir", type=click.Path(file_okay=False), default="loso_models", show_default=True,
              help="A config: where the leave-one-out models are trained (resumable).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="A config: also write the table as CSV.")
@click.option("--ensemble-size", type=int, default=None, help="A config: members per noise level.")
@click.option("--epochs", type=int, default=None, help="A config: override the published epoch rule.")
@click.option("--workers", type=int, default=None, help="A config: training processes on the CPU.")
@device_option
def evaluate_command(target: str, ground_truth_dir: str | None, noise_levels: str | None, datasets: str | None,
                     reference: str | None, kernel: float | None, write_accuracy: bool, workdir: str,
                     csv_path: str | None, ensemble_size: int | None, epochs: int | None, workers: int | None,
                     device: str | None) -> None:
    """Score TARGET on ground truth it did not see, the paper's way.

    TARGET is a training config (config.yaml): leave-one-dataset-out, training without each dataset and
    testing on it.  Or a model (a folder or a name): scored on the datasets it was not trained on, beside a
    reference model scored the same way (same noisy traces, one common kernel).
    """
    from .cascade.ground_truth import default_ground_truth_dir

    root = Path(ground_truth_dir) if ground_truth_dir else default_ground_truth_dir()
    levels = [float(v) for v in noise_levels.split(",")] if noise_levels else None
    held_out = datasets.split(",") if datasets else None
    if target.endswith((".yaml", ".yml")):
        from .cascade.evaluate import leave_one_out, score_table
        from .cascade.model import read_config

        settings = read_config(target)
        if ensemble_size is not None:
            settings["ensemble_size"] = ensemble_size
        rows = leave_one_out(settings, root, workdir, noise_levels=levels, held_out=held_out, device=device,
                             epochs=epochs, workers=workers, csv_path=csv_path)
        click.echo(score_table(rows))
        return
    click.echo(evaluate_model(target, root, levels or [2.0, 4.0], held_out, reference, kernel, write_accuracy))


def evaluate_model(target: str, root: Path, levels: list[float], datasets: list[str] | None, reference: str | None,
                   kernel: float | None, write_accuracy: bool) -> str:
    """The text of ``evaluate MODEL``: the comparison table, and where the expected accuracy went."""
    from .cascade import load_model
    from .cascade.evaluate import compare, comparison_table, expected_accuracy, held_out_datasets
    from .cascade.model import ACCURACY_FILE
    from .cascade.zoo import cache_dir, closest_model, registry

    model = load_model(target)
    if reference is None:
        name = closest_model(list(registry()), "Global_EXC", model.frame_rate, high_noise=False)
        reference = name if name and (cache_dir() / name).is_dir() else None
    other = load_model(reference) if reference else None
    chosen = datasets or held_out_datasets(model, root)
    if not chosen:
        raise UserError(f"{model.name} was trained on every dataset of its kind in {root}: none is left to score it "
                        "on; its accuracy can only be measured leave-one-dataset-out from its training config "
                        "(nwb-cascade evaluate CONFIG.yaml), or give --datasets")
    kernel_ms = model.smoothing * 1000 if kernel is None else kernel
    rows = compare(model, other, root, chosen, levels, kernel_ms / 1000)
    lines = [f"{model.name} on {len(chosen)} dataset(s) it was not trained on; common kernel "
             f"{kernel_ms:g} ms" + ("" if other else "; no reference model cached"), "",
             comparison_table(rows, model.name, other.name if other else None)]
    if write_accuracy:
        if model.path is None:
            raise click.UsageError("--write-accuracy needs a model folder")
        table = expected_accuracy([row.model for row in rows],
                                  f"held-out datasets: {', '.join(chosen)}; kernel {kernel_ms:g} ms")
        lines.append(f"\nexpected accuracy written to {table.write(model.path / ACCURACY_FILE)}")
    return "\n".join(lines)


@main.command("batch")
@click.argument("sources", nargs=-1, required=True)
@run_options
@click.option("--out", "-o", "out", type=click.Path(file_okay=False), required=True,
              help="Output folder: one results file per session, and manifest.csv.")
@click.option("--glob", default=None,
              help="Only files whose path in their dandiset or folder matches (fnmatch, e.g. 'sub-*/*ophys*').")
@click.option("--scheduler", default=None,
              help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.")
@click.option("--workers", type=int, default=None, help="Local cluster: worker processes (default: one per core).")
@click.option("--checksum", is_flag=True,
              help="Record each local source's SHA-256 and tell changed sources by it (reads every source on reruns).")
def batch_command(sources: tuple[str, ...], options, out: str, glob: str | None, scheduler: str | None,
                  workers: int | None, checksum: bool) -> None:
    """Infer spikes for every session in SOURCES (files, folders, URLs, DANDI:000728) on a Dask cluster.

    Reruns into the same --out skip the sessions that are done (and unchanged since) and retry the others.  --device: the
    default is cuda on workers that declare the Dask resource GPU.  The exit status is 1 when a session
    failed (see manifest.csv for why).
    """
    from .batch import batch_with

    summary = batch_with(sources, out, options, glob=glob, scheduler=scheduler, workers=workers, checksum=checksum)
    click.echo(summary.table())
    if summary.failed:
        sys.exit(1)


@main.group("cache")
def cache_group() -> None:
    """The stream cache: blocks of remote files read before (a rerun reads them from disk)."""


@cache_group.command("info")
def cache_info() -> None:
    """List what the stream cache holds, file by file."""
    from .nwb.sources import stream_cache_dir
    from .nwb.stream import cache_contents

    folder = stream_cache_dir()
    contents = cache_contents(folder)
    for entry in contents:
        click.echo(f"{entry.bytes / 1e6:10.1f} MB  {entry.blocks:6d} blocks  {entry.url}")
    click.echo(f"{len(contents)} file(s), {sum(entry.bytes for entry in contents) / 1e6:.1f} MB in {folder}")


@cache_group.command("clear")
def cache_clear() -> None:
    """Empty the stream cache (remote files are read from their servers again)."""
    from .nwb.sources import stream_cache_dir
    from .nwb.stream import clear_cache

    files, removed = clear_cache(stream_cache_dir())
    click.echo(f"removed {files} file(s), {removed / 1e6:.1f} MB from {stream_cache_dir()}")


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


def _frame_slice(text: str | None) -> slice | None:
    """``"a:b"`` (either side may be empty) as a slice."""
    if text is None:
        return None
    try:
        first, last = text.split(":")
        return slice(int(first) if first else None, int(last) if last else None)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a frame range a:b (e.g. 0:1000, 500:, :2000)") from None


def _train_options(steps: int | None, patch: str | None) -> dict:
    options: dict = {} if steps is None else {"steps": steps}
    if patch is not None:
        try:
            options["patch"] = tuple(int(v) for v in patch.split(","))
        except ValueError:
            options["patch"] = ()
        if len(options["patch"]) != 3 or any(v <= 0 or v % 8 for v in options["patch"]):
            raise click.BadParameter(f"{patch!r} is not frames,height,width in multiples of 8 (e.g. 16,32,32)")
    return options


@main.command("denoise")
@click.argument("file")
@click.option("--series", default=None, help="Path of the TwoPhotonSeries (default: the only one).")
@click.option("--frames", default=None, help="Frames to denoise, a:b (default: all).")
@click.option("--train-frames", type=int, default=None, help="Train on at most N frames (default 2000).")
@click.option("--steps", type=int, default=None, help="Training steps (default 400 on a GPU, 600 on a CPU).")
@click.option("--patch", default=None,
              help="Network input frames,height,width, multiples of 8 (default 32,64,64 on a GPU, 16,32,32 on a CPU).")
@click.option("--model", "model", type=click.Path(dir_okay=False), default=None,
              help="A denoiser checkpoint: skip training.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Where to save the trained denoiser (default: OUTPUT with .denoiser.pt).")
@click.option("--in-place", "in_place", is_flag=True, help="Add the denoised movie to FILE itself.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="New NWB file for the denoised movie (default: FILE with .denoised.nwb; for remote sources "
                   "<name>_denoised.nwb in the working directory).")
@overwrite_option("an existing denoised series / output file")
@device_option
def denoise_command(file: str, series: str | None, frames: str | None, train_frames: int | None, steps: int | None,
                    patch: str | None, model: str | None, checkpoint: str | None, in_place: bool, output: str | None,
                    overwrite: bool, device: str | None) -> None:
    """Denoise a TwoPhotonSeries of FILE (DeepCAD-RT) and write the denoised movie as NWB."""
    from .denoising import denoise_nwb

    if in_place and output:
        raise click.UsageError("--in-place and --output exclude each other")
    target = None if in_place else output or default_output(file, "denoised")
    summary = denoise_nwb(file, output=target, in_place=in_place, series=series, frames=_frame_slice(frames),
                          train_frames=train_frames, model=model, checkpoint=checkpoint, overwrite=overwrite,
                          train_options=_train_options(steps, patch), device=device, progress=True)
    first, last = summary.frames
    trained = f", denoiser saved to {summary.checkpoint}" if summary.trained else f", denoiser {summary.checkpoint}"
    click.echo(f"{summary.output}: {summary.denoised} from {summary.series} (frames {first}:{last} of "
               f"{summary.shape[0]}, {summary.shape[1]}×{summary.shape[2]} px{trained}) in {summary.seconds:.1f} s")


def run() -> None:
    """Entry point: the package's errors are one-line messages (exit status 2, or 128 + signal when interrupted)."""
    try:
        main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)

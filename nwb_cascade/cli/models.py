"""Models: ``models list|download``, ``ground-truth list|download``, ``train``, ``evaluate``."""

from __future__ import annotations

from pathlib import Path

import click

from ..options import DEVICE_HELP
from .base import Command, Group, output_option, parse_list

GROUND_TRUTH_HELP = "Ground-truth folder (default: the downloaded database, see `nwb-cascade ground-truth download`)."


def _ground_truth(folder: str | None) -> Path:
    from ..cascade.ground_truth import default_ground_truth_dir

    return Path(folder) if folder else default_ground_truth_dir()


@click.group("models", cls=Group)
def models() -> None:
    """The bundled models and the published Cascade model zoo."""


@models.command("list", cls=Command)
@click.argument("pattern", required=False)
@click.option("--cached", is_flag=True, help="Only models on this machine (bundled or downloaded).")
def models_list(pattern: str | None, cached: bool) -> None:
    """List models (those whose name contains PATTERN): * marks those on this machine."""
    from ..cascade import list_models

    for row in list_models():
        if (cached and not row["cached"]) or (pattern and pattern.lower() not in row["name"].lower()):
            continue
        click.echo(f"{'*' if row['cached'] else ' '} {row['name']}")


@models.command("download", cls=Command)
@click.argument("names", nargs=-1, required=True)
@click.option("--overwrite", is_flag=True, help="Download again even if cached.")
def models_download(names: tuple[str, ...], overwrite: bool) -> None:
    """Download published models into the cache."""
    from ..cascade import download_model

    for name in names:
        click.echo(download_model(name, force=overwrite, progress=True))


@click.group("ground-truth", cls=Group)
def ground_truth() -> None:
    """The public Cascade ground truth (simultaneous imaging and electrophysiology)."""


@ground_truth.command("list", cls=Command)
@click.argument("directory", type=click.Path(file_okay=False), required=False)
def ground_truth_list(directory: str | None) -> None:
    """A table of the datasets in DIRECTORY (default: the downloaded database)."""
    from ..cascade.ground_truth import dataset_table

    click.echo(dataset_table(_ground_truth(directory)))


@ground_truth.command("download", cls=Command)
@output_option("Folder for the database", folder=True, default="the user data folder")
@click.option("--url", default=None, help="Archive URL (default: the published repository's archive).")
@click.option("--sha256", default=None, help="Expected SHA-256 of the archive.")
def ground_truth_download(output: str | None, url: str | None, sha256: str | None) -> None:
    """Download the public ground truth."""
    from ..cascade.ground_truth import GROUND_TRUTH_URL, download_ground_truth

    click.echo(download_ground_truth(output, url=url or GROUND_TRUTH_URL, sha256=sha256))


@click.command("train", cls=Command)
@click.argument("config", type=click.Path(dir_okay=False, exists=True), required=False)
@click.option("--match", type=click.Path(dir_okay=False), default=None,
              help="Instead of CONFIG: a config matched to this NWB file's series (frame rate, noise levels).")
@click.option("--series", default=None, help="With --match: the RoiResponseSeries.")
@output_option("Model folder", folder=True, default="the config's model_name, in the working directory")
@click.option("--ground-truth", "ground_truth_dir", type=click.Path(file_okay=False), default=None,
              help=GROUND_TRUTH_HELP)
@click.option("--ensemble-size", type=click.IntRange(min=1), default=None,
              help="Members per noise level (default: the config's).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of every member (default: the published rule, min(20, 10 floor(5e6 / windows))).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Training processes on the CPU (default: one per core).")
@click.option("--device", default=None, help=DEVICE_HELP)
def train_command(config: str | None, match: str | None, series: str | None, output: str | None,
                  ground_truth_dir: str | None, ensemble_size: int | None, epochs: int | None, workers: int | None,
                  device: str | None) -> None:
    """Train a model folder from CONFIG.yaml (the published format), or one matched to an NWB file (--match).
    Resumable: weight files already written are kept."""
    from ..cascade.model import read_config
    from ..cascade.train import train
    from ..spike_inference import matched_training_config

    if (config is None) == (match is None):
        raise click.UsageError("give either CONFIG.yaml or --match FILE.nwb")
    root = _ground_truth(ground_truth_dir)
    settings = matched_training_config(match, root, series=series) if match else read_config(config)
    if ensemble_size is not None:
        settings["ensemble_size"] = ensemble_size
    click.echo(train(settings, root, output, device=device, epochs=epochs, workers=workers).describe())


@click.command("evaluate", cls=Command)
@click.argument("target")
@click.option("--ground-truth", "ground_truth_dir", type=click.Path(file_okay=False), default=None,
              help=GROUND_TRUTH_HELP)
@click.option("--noise-levels", default=None,
              help="Comma-separated levels to test at (default: a config's; for a model, 2,4).")
@click.option("--datasets", default=None,
              help="Comma-separated datasets to hold out (default: a config's training datasets; for a model, "
                   "those it was not trained on).")
@click.option("--reference", default=None,
              help="A model: compare with this model (default: the published general model for its rate, if cached).")
@click.option("--kernel", type=click.FloatRange(min=0, min_open=True), default=None,
              help="A model: σ (ms) of the common kernel both are scored against (default: the model's smoothing).")
@click.option("--write-accuracy", is_flag=True,
              help="A model: write the scores by noise level into its folder (expected_accuracy.csv).")
@output_option("A config: also write the table as CSV")
@click.option("--workdir", type=click.Path(file_okay=False), default="loso_models",
              help="A config: where the leave-one-out models are trained (resumable).")
@click.option("--ensemble-size", type=click.IntRange(min=1), default=None, help="A config: members per noise level.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="A config: epochs of every member.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="A config: training processes on the CPU.")
@click.option("--device", default=None, help=DEVICE_HELP)
def evaluate_command(target: str, ground_truth_dir: str | None, noise_levels: str | None, datasets: str | None,
                     reference: str | None, kernel: float | None, write_accuracy: bool, output: str | None,
                     workdir: str, ensemble_size: int | None, epochs: int | None, workers: int | None,
                     device: str | None) -> None:
    """Score TARGET on ground truth it did not see, the paper's way.

    TARGET is a training config (config.yaml): leave-one-dataset-out, training without each dataset and
    testing on it.  Or a model (a folder or a name): scored on the datasets it was not trained on, beside a
    reference model scored the same way (same noisy traces, one common kernel).
    """
    from ..cascade.evaluate import evaluate_config, evaluate_model

    root = _ground_truth(ground_truth_dir)
    levels = parse_list(noise_levels, float, "comma-separated noise levels", "2,4")
    held_out = parse_list(datasets, str, "comma-separated dataset names", "DS09-GCaMP6f-m-V1,DS21-jGECO1a-m-V1")
    if target.endswith((".yaml", ".yml")):
        result = evaluate_config(target, root, workdir, noise_levels=levels, held_out=held_out, device=device,
                                 epochs=epochs, workers=workers, ensemble_size=ensemble_size, csv_path=output)
    else:
        result = evaluate_model(target, root, noise_levels=levels, datasets=held_out, reference=reference,
                                kernel_ms=kernel, write_accuracy=write_accuracy)
    click.echo(result.describe())


def register(group: click.Group) -> None:
    for command in (models, ground_truth, train_command, evaluate_command):
        group.add_command(command)

"""Evaluating models on ground truth the way the paper does, and leave-one-dataset-out.

A model is run on ground-truth recordings resampled to its frame rate and to a
noise level; per neuron (its recordings joined), the prediction is compared
with the true spikes smoothed by the model's kernel: correlation, error and
bias (:func:`~nwb_cascade.cascade.metrics.rate_scores`); datasets are
summarised by the median over neurons.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .ground_truth import at_frame_rate, dataset_folders, excitatory, read_neuron, with_noise_level
from .inference import predict
from .metrics import RateScores, rate_scores
from .model import ACCURACY_MEASURES, CascadeModel, ExpectedAccuracy
from .train import train

log = logging.getLogger(__name__)


@dataclass
class DatasetScores:
    """Median scores over the neurons of one dataset at one noise level."""

    dataset: str
    noise_level: float
    neurons: int
    correlation: float
    error: float
    bias: float


def score_neurons(model: CascadeModel, folder: str | Path, noise_level: float, *, seed: int = 0,
                  baseline: bool = False, smoothing: float | None = None) -> list[RateScores]:
    """Scores of each neuron of a dataset at ``noise_level`` (neurons whose recordings are all
    noisier are left out).  With ``baseline``, the trivial predictor instead of the model:
    the ΔF/F derivative clipped at 0.  ``smoothing`` is the σ (s) of the Gaussian that
    smooths the true spikes into the target; default: the model's own, as in the paper.
    Give one common value to compare models trained with different smoothings."""
    rng = np.random.default_rng(seed)
    rate = model.frame_rate
    sigma = (model.smoothing if smoothing is None else smoothing) * rate
    scores = []
    for path in sorted(Path(folder).glob("*.mat")):
        predicted, truth = [], []
        for recording in read_neuron(path):
            _, dff, counts = at_frame_rate(recording, rate)
            noisy = with_noise_level(dff, rate, noise_level, rng)
            if noisy is None or len(noisy) < model.windowsize or counts.sum() == 0:
                continue
            if baseline:
                prediction = np.append(np.clip(np.diff(noisy), 0, None), np.nan)
            else:
                prediction = predict(noisy, model, frame_rate=rate, noise_levels=np.array(noise_level))
            predicted.append(np.append(prediction, np.nan))
            truth.append(np.append(counts, 0.0))
        if predicted:
            scores.append(rate_scores(np.concatenate(predicted), np.concatenate(truth), sigma))
    return scores


def score_dataset(model: CascadeModel, folder: str | Path, noise_level: float, **options: Any) -> DatasetScores:
    """Median correlation, error and bias over the neurons of one dataset."""
    scores = score_neurons(model, folder, noise_level, **options)

    def median(name: str) -> float:
        values = np.array([getattr(s, name) for s in scores], dtype=float)
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else float("nan")

    return DatasetScores(Path(folder).name, noise_level, len(scores), median("correlation"), median("error"),
                         median("bias"))


def score_table(rows: Sequence[DatasetScores]) -> str:
    """Rows as a markdown table."""
    lines = ["| dataset | noise level | neurons | correlation | error | bias |", "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.dataset} | {row.noise_level:g} | {row.neurons} | {row.correlation:.3f} | "
                     f"{row.error:.3f} | {row.bias:+.3f} |")
    return "\n".join(lines)


def leave_one_out(
    config: dict[str, Any],
    ground_truth: str | Path,
    workdir: str | Path,
    *,
    noise_levels: Sequence[float] | None = None,
    held_out: Sequence[str] | None = None,
    device: str | None = None,
    epochs: int | None = None,
    workers: int | None = None,
    csv_path: str | Path | None = None,
    progress: bool = True,
) -> list[DatasetScores]:
    """Leave-one-dataset-out: for each training dataset, train without it, test on it.

    Models go to ``workdir/<model_name>_without_<dataset>`` (training resumes there).
    Each held-out dataset (all training datasets, or those of ``held_out``) is scored at every
    noise level of the config (or ``noise_levels``).  With ``csv_path``, the table is rewritten
    after each dataset, so a long run can be followed and an interrupted one keeps its rows.
    """
    unknown = sorted(set(held_out or ()) - set(config["training_datasets"]))
    if unknown:
        raise ValueError(f"held-out datasets {unknown} are not training datasets of the config")
    rows: list[DatasetScores] = []
    for held_out_name in held_out or config["training_datasets"]:
        held_out_rows = _leave_out(config, held_out_name, ground_truth, workdir, noise_levels, device, epochs, workers,
                                   progress)
        rows.extend(held_out_rows)
        if csv_path:
            write_csv(rows, csv_path)
    return rows


def _leave_out(config: dict[str, Any], held_out: str, ground_truth: str | Path, workdir: str | Path,
               noise_levels: Sequence[float] | None, device: str | None, epochs: int | None, workers: int | None,
               progress: bool) -> list[DatasetScores]:
    """Train without ``held_out`` and score it at each noise level."""
    reduced = dict(config)
    reduced["training_datasets"] = [name for name in config["training_datasets"] if name != held_out]
    reduced["model_name"] = f"{config['model_name']}_without_{held_out}"
    model = train(reduced, ground_truth, Path(workdir) / reduced["model_name"], device=device, progress=progress,
                  epochs=epochs, workers=workers)
    rows = []
    for level in noise_levels or config["noise_levels"]:
        row = score_dataset(model, Path(ground_truth) / held_out, float(level))
        log.info("%s at noise %g: r = %.3f", held_out, level, row.correlation)
        rows.append(row)
    return rows


def write_csv(rows: Sequence[DatasetScores], path: str | Path) -> None:
    """Rows as CSV (dataset, noise_level, neurons, correlation, error, bias)."""
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "noise_level", "neurons", "correlation", "error", "bias"])
        for row in rows:
            writer.writerow([row.dataset, row.noise_level, row.neurons, f"{row.correlation:.4f}", f"{row.error:.4f}",
                             f"{row.bias:.4f}"])


def rate_correlations(traces_dff: np.ndarray, spike_counts: np.ndarray, model: CascadeModel,
                      frame_rate: float) -> np.ndarray:
    """Correlation of Cascade's spike rates from ``traces_dff`` (ROIs × frames, ΔF/F) with the true spike
    counts smoothed as the model's training target was, per ROI (the paper's measure)."""
    rates = predict(traces_dff, model, frame_rate=frame_rate)
    sigma = model.smoothing * frame_rate
    return np.array([rate_scores(rate, counts, sigma).correlation for rate, counts in zip(rates, spike_counts)])


def held_out_datasets(model: CascadeModel, ground_truth: str | Path) -> list[str]:
    """The ground-truth datasets the model was not trained on, of the kind it was trained for (excitatory
    datasets for a model trained on excitatory ones only)."""
    names = [folder.name for folder in dataset_folders(ground_truth)]
    trained = set(model.config.get("training_datasets", []))
    unseen = [name for name in names if name not in trained]
    return excitatory(unseen) if trained and set(excitatory(sorted(trained))) == trained else unseen


def expected_accuracy(rows: Sequence[DatasetScores], note: str) -> ExpectedAccuracy:
    """By noise level: the median over datasets of each dataset's median correlation, error and bias."""
    levels = sorted({row.noise_level for row in rows})

    def median(name: str, level: float) -> float:
        values = np.array([getattr(row, name) for row in rows if row.noise_level == level], dtype=float)
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else float("nan")

    return ExpectedAccuracy(np.array(levels, dtype=float),
                            *(np.array([median(name, level) for level in levels]) for name in ACCURACY_MEASURES),
                            note=note)


@dataclass
class Comparison:
    """One held-out dataset at one noise level, scored for a model and a reference the same way."""

    dataset: str
    noise_level: float
    model: DatasetScores
    reference: DatasetScores | None


def compare(model: CascadeModel, reference: CascadeModel | None, ground_truth: str | Path, datasets: Sequence[str],
            noise_levels: Sequence[float], smoothing: float | None = None) -> list[Comparison]:
    """Score ``model`` (and ``reference``) on ``datasets`` at each noise level, against the true spikes smoothed
    with one common kernel (``smoothing``, s; default the model's): the same noisy traces for both."""
    kernel = model.smoothing if smoothing is None else smoothing
    rows = []
    for dataset in datasets:
        folder = Path(ground_truth) / dataset
        for level in noise_levels:
            ours = score_dataset(model, folder, float(level), smoothing=kernel)
            theirs = score_dataset(reference, folder, float(level), smoothing=kernel) if reference else None
            log.info("%s at noise %g: r %.3f%s", dataset, level, ours.correlation,
                     f" (reference {theirs.correlation:.3f})" if theirs else "")
            rows.append(Comparison(dataset, float(level), ours, theirs))
    return rows


def comparison_table(rows: Sequence[Comparison], model: str, reference: str | None) -> str:
    """The comparison as a markdown table, with the median correlation of each over all rows."""
    head = f"| dataset | noise | {model} r / error / bias |" + (f" {reference} r / error / bias | Δr |" if reference else "")
    lines = [head, "|---|---|---|" + ("---|---|" if reference else "")]

    def cell(scores: DatasetScores) -> str:
        return f"{scores.correlation:.3f} / {scores.error:.2f} / {scores.bias:+.2f}"

    for row in rows:
        line = f"| {row.dataset} | {row.noise_level:g} | {cell(row.model)} |"
        if row.reference is not None:
            line += f" {cell(row.reference)} | {row.model.correlation - row.reference.correlation:+.3f} |"
        lines.append(line)
    ours = np.nanmedian([row.model.correlation for row in rows]) if rows else float("nan")
    line = f"| **median r** | | **{ours:.3f}** |"
    if reference:
        theirs = np.nanmedian([row.reference.correlation for row in rows])
        line += f" **{theirs:.3f}** | {ours - theirs:+.3f} |"
    return "\n".join(lines + [line])


@dataclass
class Evaluation:
    """What ``nwb-cascade evaluate`` found: a table, and what was written where."""

    title: str
    table: str
    notes: list[str]

    def describe(self) -> str:
        return "\n".join([self.title, "", self.table, *self.notes])


def evaluate_model(target: str | Path, ground_truth: str | Path, *, noise_levels: Sequence[float] | None = None,
                   datasets: Sequence[str] | None = None, reference: str | Path | None = None,
                   kernel_ms: float | None = None, write_accuracy: bool = False) -> Evaluation:
    """A model scored on the ground-truth datasets it was not trained on, beside a reference scored the same way.

    ``reference``: default the published general model for the model's frame rate, when it is cached.
    ``kernel_ms``: σ of the common kernel (default: the model's smoothing).  ``write_accuracy`` writes the
    scores by noise level as the model folder's ``expected_accuracy.csv``.
    """
    from .model import ACCURACY_FILE
    from .zoo import cache_dir, closest_model, load_model, registry

    model = load_model(target)
    if reference is None:
        name = closest_model(list(registry()), "Global_EXC", model.frame_rate, high_noise=False)
        reference = name if name and (cache_dir() / name).is_dir() else None
    other = load_model(reference) if reference else None
    chosen = list(datasets) if datasets else held_out_datasets(model, ground_truth)
    if not chosen:
        raise ModelError(f"{model.name} was trained on every dataset of its kind in {ground_truth}: none is left to "
                         "score it on; its accuracy can only be measured leave-one-dataset-out from its training "
                         "config (nwb-cascade evaluate CONFIG.yaml), or give --datasets")
    if write_accuracy and model.path is None:
        raise ModelError("writing the expected accuracy needs a model folder")
    kernel = model.smoothing * 1000 if kernel_ms is None else kernel_ms
    rows = compare(model, other, ground_truth, chosen, noise_levels or [2.0, 4.0], kernel / 1000)
    notes = []
    if write_accuracy:
        table = expected_accuracy([row.model for row in rows],
                                  f"held-out datasets: {', '.join(chosen)}; kernel {kernel:g} ms")
        notes.append(f"\nexpected accuracy written to {table.write(model.path / ACCURACY_FILE)}")
    title = (f"{model.name} on {len(chosen)} dataset(s) it was not trained on; common kernel {kernel:g} ms"
             + ("" if other else "; no reference model cached"))
    return Evaluation(title, comparison_table(rows, model.name, other.name if other else None), notes)


def evaluate_config(config: str | Path | dict[str, Any], ground_truth: str | Path, workdir: str | Path, *,
                    ensemble_size: int | None = None, csv_path: str | Path | None = None,
                    **options: Any) -> Evaluation:
    """Leave-one-dataset-out of a training config (:func:`leave_one_out`, whose options ``options`` are)."""
    from .model import read_config

    settings = dict(config) if isinstance(config, dict) else read_config(config)
    if ensemble_size is not None:
        settings["ensemble_size"] = ensemble_size
    rows = leave_one_out(settings, ground_truth, workdir, csv_path=csv_path, **options)
    notes = [f"\ntable written to {csv_path}"] if csv_path else []
    return Evaluation(f"{settings['model_name']}, leave one dataset out", score_table(rows), notes)

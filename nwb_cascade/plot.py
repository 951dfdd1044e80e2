"""Pictures of Cascade results: traces with spike rates and spikes, and the noise levels.

The library never chooses matplotlib's backend: figures come from pyplot with whatever backend the
session has, so they show inline in Jupyter, in a window where the user's backend opens one, and save
from scripts and servers without a display (matplotlib falls back to Agg there).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .nwb.read import NWBInputError, Storage, timestamps_of
from .nwb.write import MODULE


def plot_noise_levels(noise: np.ndarray, model_levels: Sequence[float], ax: Axes | None = None) -> Axes:
    """Histogram of ROI noise levels with the model's noise levels marked."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(6, 3)).add_subplot()
    finite = np.asarray(noise, dtype=float)
    finite = finite[np.isfinite(finite)]
    top = max(float(np.max(model_levels)), float(finite.max()) if finite.size else 1.0) + 1
    ax.hist(finite, bins=np.linspace(0, top, 40), color="0.5")
    for level in model_levels:
        ax.axvline(level, color="tab:red", lw=0.8, ls="--")
    ax.set_xlabel("noise level (ROIs: grey; model levels: red)")
    ax.set_ylabel("ROIs")
    return ax


def plot_rois(time: np.ndarray, dff: np.ndarray, rates: np.ndarray, spikes: Sequence[np.ndarray] | None,
              labels: Sequence[str], axes: Sequence[Axes]) -> None:
    """For each ROI: ΔF/F above, spike rate (spikes/s) below, discrete spikes as ticks under it."""
    for ax, trace, rate, label, index in zip(axes, dff, rates, labels, range(len(labels))):
        ax.plot(time, trace, color="0.3", lw=0.6)
        ax.set_ylabel(f"{label}\nΔF/F", fontsize=8)
        twin = ax.twinx()
        scale = np.nanmax(trace) - np.nanmin(trace) if np.isfinite(trace).any() else 1.0
        floor = np.nanmin(trace) - 1.1 * scale
        peak = np.nanmax(rate) if np.isfinite(rate).any() and np.nanmax(rate) > 0 else 1.0
        ax.plot(time, floor + rate / peak * scale, color="tab:blue", lw=0.7)
        if spikes is not None and len(spikes[index]):
            ax.plot(spikes[index], np.full(len(spikes[index]), floor - 0.1 * scale), "|", color="tab:red", ms=6)
        twin.set_ylim(np.asarray(ax.get_ylim()) - floor)
        twin.set_yticks([0, scale])
        twin.set_yticklabels(["0", f"{peak:.2g}/s"], fontsize=7, color="tab:blue")


def plot_results(path: str | Path, *, rois: Sequence[int] | None = None, container: str | None = None,
                 out: str | Path | None = None, max_rois: int = 6,
                 window: tuple[float, float] | None = None) -> Figure:
    """Figure of one results container of an NWB file: chosen ROIs, then the noise levels.

    Parameters
    ----------
    path
        An NWB file holding Cascade results (annotated in place or written by ``infer``).
    rois
        Row indices of the ROIs to draw; default: the ``max_rois`` with the most spikes
        (or the highest mean rate).
    container
        Name of the results container in ``processing/cascade``; default: the first.
    out
        Save the figure there (PNG, PDF, SVG by extension).
    window
        Only this stretch of the session, (start, stop) in seconds on its time base: the alignment
        of rates and spikes with the ΔF/F shows at the scale of transients.  Default: all of it.

    Each ROI is labelled with its index and, where the model carries an expected accuracy
    (``expected_correlation``...), the correlation expected at its noise level.
    """
    from .nwb.open import open_nwb

    if out is not None:
        formats = Figure().canvas.get_supported_filetypes()
        suffix = Path(out).suffix.lower().lstrip(".")
        if suffix not in formats:
            raise NWBInputError(f"cannot save a figure as {out}: name it with one of the extensions "
                                f"{', '.join('.' + name for name in sorted(formats))} (e.g. .png, .pdf, .svg)")
    with open_nwb(path, "r") as (_, nwbfile):
        module = nwbfile.processing.get(MODULE)
        if module is None or not module.data_interfaces:
            raise NWBInputError(f"{path} holds no Cascade results (processing/{MODULE}); run nwb-cascade infer first")
        names = sorted(module.data_interfaces)
        name = container or names[0]
        if name not in module.data_interfaces:
            raise NWBInputError(f"no results {name!r} in {path}; there are: {', '.join(names)}")
        results = module.data_interfaces[name]
        rates = results.spike_rates
        stamps = timestamps_of(rates)
        n_frames, n_rois = rates.data.shape
        time = stamps if stamps is not None else rates.starting_time + np.arange(n_frames) / rates.rate
        spikes_table = results.discrete_spikes
        if rois is None:
            if spikes_table is not None:
                score = np.asarray(spikes_table["spike_count"].data[:], dtype=float)
            else:
                score = np.nanmean(rates.data[:], axis=0)
            rois = list(np.argsort(-np.nan_to_num(score), kind="stable")[:max_rois])
        rois = [int(i) for i in rois]
        bad = [i for i in rois if not 0 <= i < n_rois]
        if bad:
            raise NWBInputError(f"ROI indices {bad} are out of range: this series has {n_rois} ROIs (0-{n_rois - 1})")
        picked = np.sort(np.asarray(rois))
        first, stop = _frames_in(time, window, path)
        time = time[first:stop]
        dff = Storage.of(results.source).apply(results.source.data[first:stop, picked]).T  # values, not data
        rate = np.asarray(rates.data[first:stop, picked]).T
        spikes = None
        if spikes_table is not None:
            spikes = [times[(times >= time[0]) & (times <= time[-1])]
                      for times in (np.asarray(spikes_table["spike_times"][i]) for i in picked)]
        expected = getattr(rates, "expected_correlation", None)
        labels = [f"ROI {i}" + (f" (r≈{float(expected[i]):.2f})" if expected is not None else "") for i in picked]
        levels = yaml.safe_load(results.model_config).get("noise_levels", [])
        noise = np.asarray(rates.noise_levels[:])
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(10, 1.6 * len(picked) + 2.4), layout="constrained")
        grid = figure.add_gridspec(len(picked) + 1, 1, height_ratios=[1.0] * len(picked) + [1.2])
        axes = [figure.add_subplot(grid[i]) for i in range(len(picked))]
        for ax in axes[1:]:
            ax.sharex(axes[0])
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)
        plot_rois(time, dff, rate, spikes, labels, axes)
        if axes:
            axes[-1].set_xlabel("time (s)")
            title = f"{results.source.name}: ΔF/F (grey), spike rate (blue), spikes (red) - {results.model_name}"
            if expected is not None:
                title += " (r≈: expected correlation at the ROI's noise level)"
            axes[0].set_title(title, fontsize=9)
        plot_noise_levels(noise, levels, figure.add_subplot(grid[-1]))
    if out is not None:
        figure.savefig(out, dpi=120)
    return figure


def close(figure: Figure) -> None:
    """Let pyplot forget a figure that was saved and is not shown (a command line's, a batch's)."""
    import matplotlib.pyplot as plt

    plt.close(figure)


def _frames_in(time: np.ndarray, window: tuple[float, float] | None, path: str | Path) -> tuple[int, int]:
    """The frames ``[first, stop)`` whose times fall in ``window`` (all without one)."""
    if window is None:
        return 0, len(time)
    start, end = window
    first, stop = int(np.searchsorted(time, start, "left")), int(np.searchsorted(time, end, "right"))
    if not end > start or stop - first < 2:
        raise NWBInputError(f"the window {start:g}-{end:g} s holds {max(0, stop - first)} frame(s) of {path}; its "
                            f"frames run from {time[0]:.3f} s to {time[-1]:.3f} s")
    return first, stop

"""The figures of a summary (:mod:`nwb_cascade.summarize`): the views of the Cascade paper's Allen analysis.

Rupprecht et al. 2021, Fig. 6: (a) neurons against noise level per experiment; (c) the distribution of
mean spike rates with a log-normal fit; (d) rates by cortical depth and transgenic line; (e) rates by
stimulus; (h) pairwise correlations of ΔF/F against those of spike rates.  In (d), (e) and (h) each point is
one session (plane): the mean over its ROIs, as in the paper.

Figures are drawn on :class:`matplotlib.figure.Figure` objects, never through pyplot's global state, so
the backend of the program that calls this is never touched; a view whose facts no file states (no depth,
no stimulus intervals) is a figure that says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd

#: Colours of the depth bins, shallow to deep (and grey for "not stated").
DEPTH_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
UNSTATED = "not stated"
_LABELS = {"mean_rate": "mean of the spike-rate trace", "spike_rate": "discrete spikes per second"}


def draw_all(rois: pd.DataFrame, sessions: pd.DataFrame, fits: dict[str, Any]) -> dict[str, Figure]:
    """Every figure of a summary, by file name (without ``.png``); ``fits`` maps each fitted column to its
    :class:`nwb_cascade.summarize.LogNormalFit` (``mu``, ``sigma``, ``median_hz``, ``n``)."""
    return {
        "neurons_vs_noise": neurons_against_noise(sessions),
        "rate_distribution": rate_distribution(rois, fits),
        "rates_by_depth_and_line": rates_by_depth_and_line(sessions),
        "rates_by_stimulus": rates_by_stimulus(sessions),
        "correlations": correlations(sessions),
    }


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def neurons_against_noise(sessions: pd.DataFrame) -> Figure:
    """Fig. 6a: each session's (plane's) ROIs against its median noise level."""
    figure = Figure(figsize=(4.5, 3.5), layout="constrained")
    ax = figure.add_subplot()
    ax.scatter(sessions["noise_median"], sessions["rois"], s=12, color="tab:blue", alpha=0.7, edgecolors="none")
    ax.set_xlabel("median noise level (%·Hz$^{-1/2}$)")
    ax.set_ylabel("ROIs")
    ax.set_title(f"{len(sessions)} session(s)", fontsize=9)
    return figure


def rate_distribution(rois: pd.DataFrame, fits: dict[str, Any]) -> Figure:
    """Fig. 6c: histograms of the ROIs' rates on a log axis, with the fitted log-normal (per column fitted)."""
    figure = Figure(figsize=(4.2 * len(fits), 3.5), layout="constrained")
    for ax, (column, fit) in zip(figure.subplots(1, len(fits), squeeze=False)[0], fits.items()):
        values = rois[column].to_numpy(dtype=float)
        values = values[np.isfinite(values) & (values > 0)]
        if not values.size:
            _empty(ax, f"no positive {column}")
            continue
        logs = np.log10(values)
        edges = np.linspace(logs.min() - 0.1, logs.max() + 0.1, 40)
        ax.hist(logs, bins=edges, color="0.6")
        x = np.linspace(edges[0], edges[-1], 300)
        ln10 = np.log(10.0)
        density = np.exp(-0.5 * ((x * ln10 - fit.mu) / fit.sigma) ** 2) / (fit.sigma * np.sqrt(2 * np.pi)) * ln10
        ax.plot(x, density * values.size * (edges[1] - edges[0]), color="k", lw=1.2)
        ticks = np.arange(np.floor(edges[0]), np.ceil(edges[-1]) + 1)
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{10 ** tick:g}" for tick in ticks])
        ax.set_xlabel(f"{_LABELS.get(column, column)} (Hz)")
        ax.set_ylabel("ROIs")
        ax.set_title(f"log-normal: median {fit.median_hz:.3g} Hz, σ {fit.sigma:.2f} (n = {fit.n})", fontsize=9)
    return figure


def _depth_order(sessions: pd.DataFrame) -> list[str]:
    stated = [label for label in dict.fromkeys(sessions["depth_bin"]) if label]
    stated.sort(key=lambda label: float(label.split("-")[0]))
    return stated + ([UNSTATED] if (sessions["depth_bin"] == "").any() else [])


def _depth_colour(order: Sequence[str], label: str) -> str:
    if label == UNSTATED:
        return "0.6"
    return DEPTH_COLOURS[order.index(label) % len(DEPTH_COLOURS)]


def _strip(ax: Axes, groups: list[tuple[str, np.ndarray, list[str]]], order: Sequence[str]) -> None:
    """A box per group, its points (coloured by depth bin) jittered over it."""
    rng = np.random.default_rng(0)
    for position, (_, values, bins) in enumerate(groups):
        finite = np.isfinite(values)
        if finite.any():
            ax.boxplot([values[finite]], positions=[position], widths=0.6, showfliers=False,
                       medianprops={"color": "k"}, boxprops={"color": "0.5"}, whiskerprops={"color": "0.5"},
                       capprops={"color": "0.5"})
        x = position + rng.uniform(-0.2, 0.2, values.size)
        ax.scatter(x, values, s=10, c=[_depth_colour(order, label or UNSTATED) for label in bins], alpha=0.8,
                   edgecolors="none", zorder=3)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([name for name, _, _ in groups], rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.7, len(groups) - 0.3)


def _legend(ax: Axes, order: Sequence[str]) -> None:
    for label in order:
        ax.scatter([], [], s=14, color=_depth_colour(order, label), label=label)
    if order:
        ax.legend(title="depth", fontsize=7, title_fontsize=7, loc="best", frameon=False)


def rates_by_depth_and_line(sessions: pd.DataFrame) -> Figure:
    """Fig. 6d: each session's mean rate by depth bin, and by transgenic line (coloured by depth bin)."""
    figure = Figure(figsize=(9, 3.8), layout="constrained")
    by_depth, by_line = figure.subplots(1, 2)
    order = _depth_order(sessions)
    bins = sessions["depth_bin"].where(sessions["depth_bin"] != "", UNSTATED)
    groups = [(label, sessions["mean_rate"].to_numpy(dtype=float)[(bins == label).to_numpy()],
               [label] * int((bins == label).sum())) for label in order]
    _strip(by_depth, groups, order)
    by_depth.set_ylabel("mean rate of a session (Hz)")
    by_depth.set_title("by imaging depth" + ("" if [g for g in order if g != UNSTATED] else
                                              " (no file states a depth)"), fontsize=9)
    lines = sessions["line"].fillna("").replace("", UNSTATED)
    line_groups = [(line, sessions["mean_rate"].to_numpy(dtype=float)[(lines == line).to_numpy()],
                    list(sessions["depth_bin"][(lines == line).to_numpy()])) for line in sorted(set(lines))]
    _strip(by_line, line_groups, order)
    by_line.set_title("by transgenic line", fontsize=9)
    _legend(by_line, order)
    return figure


def rates_by_stimulus(sessions: pd.DataFrame) -> Figure:
    """Fig. 6e: each session's mean rate within each stimulus, coloured by depth bin."""
    figure = Figure(figsize=(7, 3.8), layout="constrained")
    ax = figure.add_subplot()
    columns = sorted(column for column in sessions.columns if column.startswith("rate_"))
    if not columns:
        _empty(ax, "no stimulus interval tables in these sessions (or their sources)")
        return figure
    order = _depth_order(sessions)
    groups = []
    for column in columns:
        values = sessions[column].to_numpy(dtype=float)
        chosen = np.isfinite(values)
        groups.append((column[len("rate_"):], values[chosen], list(sessions["depth_bin"][chosen])))
    _strip(ax, groups, order)
    ax.set_ylabel("mean rate of a session (Hz)")
    ax.set_title(f"by stimulus ({int((sessions['stimulus_from'] != '').sum())} of {len(sessions)} sessions have "
                 "stimulus intervals)", fontsize=9)
    _legend(ax, order)
    return figure


def correlations(sessions: pd.DataFrame) -> Figure:
    """Fig. 6h: each session's mean pairwise correlation of ΔF/F against that of its spike rates."""
    figure = Figure(figsize=(8, 3.6), layout="constrained")
    scatter, boxes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    dff = sessions["correlation_dff"].to_numpy(dtype=float)
    rates = sessions["correlation_rates"].to_numpy(dtype=float)
    both = np.isfinite(dff) & np.isfinite(rates)
    if not both.any():
        _empty(scatter, "no session has ΔF/F and rates for two ROIs or more")
        _empty(boxes, "")
        return figure
    scatter.scatter(dff[both], rates[both], s=12, alpha=0.7, edgecolors="none")
    low, high = min(dff[both].min(), rates[both].min(), 0.0), max(dff[both].max(), rates[both].max())
    scatter.plot([low, high], [low, high], color="0.5", lw=0.8, ls="--")
    scatter.set_xlabel("mean pairwise correlation, ΔF/F")
    scatter.set_ylabel("mean pairwise correlation, spike rates")
    scatter.set_title(f"{int(both.sum())} session(s)", fontsize=9)
    boxes.boxplot([dff[both], rates[both]], widths=0.6, showfliers=True, medianprops={"color": "k"})
    boxes.set_xticks([1, 2])
    boxes.set_xticklabels(["ΔF/F", "spike rates"])
    boxes.set_ylabel("mean pairwise correlation")
    return figure

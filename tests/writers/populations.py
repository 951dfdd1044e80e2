"""Allen Brain Observatory sessions whose neurons fire at known rates drawn from a log-normal.

For the summary's tests and its scale benchmark: each session is written by the Allen writers of
:mod:`tests.writers.allen` (the Visual Coding layout of DANDI 000728, or the Visual Behavior layout of
DANDI 000711), with the metadata those files carry (subject, genotype of a Cre line, imaging plane
location, and, in the Visual Behavior layout, the imaging depth) and their stimulus interval tables.

Each neuron fires Poisson spikes at its own rate, drawn from one log-normal for the whole population; within
a stimulus block every rate is multiplied by that stimulus's gain (:data:`STIMULUS_GAIN`), scaled so that
the session's time-averaged gain is 1: a neuron's true mean rate over the session is its drawn rate.  Each
spike adds the GCaMP6f kernel it is given (the median linear kernel of the ground truth,
:func:`nwb_cascade.cascade.ground_truth.linear_kernel`), and white noise is added at the session's noise level.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nwb_cascade.synthetic import lognormal_rates, population_traces

from .allen import write_visual_behavior, write_visual_coding_processed

#: (Cre line, imaging depth µm) of the Allen Brain Observatory's excitatory lines (de Vries et al. 2020).
ALLEN_LINES = (
    ("Cux2-CreERT2", 175), ("Emx1-IRES-Cre", 275), ("Rorb-IRES2-Cre", 275), ("Scnn1a-Tg3-Cre", 350),
    ("Rbp4-Cre_KL100", 375), ("Tlx3-Cre_PL56", 375), ("Ntsr1-Cre_GN220", 550), ("Slc17a7-IRES2-Cre", 175),
)
AREAS = ("VISp", "VISl", "VISal", "VISpm")
#: The stimulus blocks of each session type, in order (shortened: one block of each).
VISUAL_CODING_BLOCKS = {
    "three_session_A": ("drifting_gratings", "natural_movie_one", "spontaneous", "natural_movie_three"),
    "three_session_B": ("static_gratings", "natural_scenes", "spontaneous", "natural_movie_one"),
    "three_session_C": ("locally_sparse_noise", "spontaneous", "natural_movie_one", "natural_movie_two"),
}
VISUAL_BEHAVIOR_BLOCKS = ("Natural_Images_Lum_Matched_set_ophys_G_2019", "spontaneous", "natural_movie_one")
#: How much each stimulus multiplies the neurons' rates (before the session's normalisation).
STIMULUS_GAIN = {
    "drifting_gratings": 1.0, "static_gratings": 1.0, "locally_sparse_noise": 0.9, "natural_scenes": 1.4,
    "natural_movie_one": 1.3, "natural_movie_two": 1.3, "natural_movie_three": 1.3, "spontaneous": 0.7,
    "Natural_Images_Lum_Matched_set_ophys_G_2019": 1.2,
}
FRAME_RATES = {"visual_coding": 30.0, "visual_behavior": 31.0}


@dataclass
class PopulationSession:
    """What was written, and the truth it was written from."""

    path: Path
    layout: str
    rates: np.ndarray  # true mean rate of each ROI over the session (Hz)
    counts: np.ndarray  # spikes each ROI fired
    seconds: float
    noise_level: float
    line: str
    depth: float | None  # as the file states it (None: the Visual Coding files state none)
    stimulus_rates: dict[str, np.ndarray] = field(default_factory=dict)  # true rate of each ROI in each stimulus


def kernel_at(kernel: np.ndarray, kernel_rate: float, rate: float) -> np.ndarray:
    """A spike kernel sampled at ``kernel_rate`` resampled to frames at ``rate`` (the same response in time)."""
    seconds = kernel.size / kernel_rate
    return np.interp(np.arange(round(seconds * rate)) / rate, np.arange(kernel.size) / kernel_rate, kernel)


def write_population_session(path: str | Path, layout: str, index: int, kernel: tuple[np.ndarray, float], *,
                             rois: int, seconds: float, median_hz: float, sigma: float, noise_level: float,
                             stimulus: bool = True, seed: int = 0) -> PopulationSession:
    """One session (``layout`` ``"visual_coding"`` or ``"visual_behavior"``) of ``rois`` neurons.

    ``index`` numbers the session: it sets its ids, line, area, session type and start time (three sessions
    per mouse); ``kernel`` is the spike kernel and the frame rate it is sampled at; ``stimulus=False`` writes
    no stimulus intervals (as the Visual Coding sessions whose epochs AllenSDK could not compute).
    """
    rng = np.random.default_rng([seed, index])
    rate = FRAME_RATES[layout]
    frames = round(seconds * rate)
    line, depth = ALLEN_LINES[index % len(ALLEN_LINES)]
    genotype = f"{line}/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/wt"
    if layout == "visual_coding":
        session_type = sorted(VISUAL_CODING_BLOCKS)[index % 3]
        blocks = VISUAL_CODING_BLOCKS[session_type]
    else:
        session_type, blocks = "OPHYS_1_images_A", VISUAL_BEHAVIOR_BLOCKS
    edges = np.linspace(0.0, frames / rate, len(blocks) + 1)
    gains = np.array([STIMULUS_GAIN[name] for name in blocks])
    gains = gains / gains.mean()  # equal blocks: the time-averaged gain is 1
    times = np.arange(frames) / rate
    block_of_frame = np.minimum(np.searchsorted(edges, times, side="right") - 1, len(blocks) - 1)
    truth = lognormal_rates(rois, median_hz, sigma, rng)
    dff, spikes = population_traces(truth, frames, rate, kernel_at(*kernel, rate), noise_level, rng,
                                    gain=gains[block_of_frame])
    table = [(float(edges[i]), float(edges[i + 1]), name) for i, name in enumerate(blocks)] if stimulus else None
    mouse = index // 3
    start = _dt.datetime(2018, 1, 1, 9, 0, tzinfo=_dt.timezone.utc) + _dt.timedelta(days=index, minutes=7 * index)
    path = Path(path)
    if layout == "visual_coding":
        write_visual_coding_processed(
            str(path), dff, rate, genotype, experiment_id=500000000 + index, session_type=session_type,
            subject_id=str(400000000 + mouse), specimen_name=f"{line};Camk2a-tTA;Ai93-{300000 + mouse}",
            container_id=510000000 + mouse, location=AREAS[index % len(AREAS)], stimulus_epochs=table,
            mask_shape=(48, 48), seed=index, session_start_time=start, include_events=False,
            include_demixed=False, include_behavior_and_stimulus=False)
        stated_depth = None
    else:
        write_visual_behavior(
            str(path), dff, rate, genotype, ophys_experiment_id=900000000 + index, ophys_session_id=800000000 + index,
            behavior_session_id=700000000 + index, ophys_container_id=1000000000 + mouse, mouse_id=str(450000 + mouse),
            targeted_structure=AREAS[index % len(AREAS)], imaging_depth=depth, stimulus_blocks=table,
            mask_shape=(48, 48), seed=index, session_start_time=start)
        stated_depth = float(depth)
    stimulus_rates = {name: truth * gain for name, gain in zip(blocks, gains)} if stimulus else {}
    return PopulationSession(path, layout, truth, spikes.sum(axis=1), frames / rate, noise_level, line, stated_depth,
                             stimulus_rates)

"""Which model suits a recording's calcium indicator, frame rate and species.

The indicator is read from free text with the table of :mod:`nwb_cascade.cascade.sensors`: an
imaging plane's ``indicator`` field ("GCaMP6f", "jGCaMP8m", "OGB-1"...) or a mouse genotype
("...Ai93(TITL-GCaMP6f)...", where the Allen Institute's reporter lines Ai93/Ai148 carry GCaMP6f
and Ai94/Ai162 GCaMP6s), or where else the workflow found it (``stated``: the user's
``--indicator``, a series' name or description).  Then:

- GCaMP6f or GCaMP6s at 30 Hz: the bundled model trained on that indicator's mouse V1
  ground truth;
- jGCaMP8f/m/s (or GCaMP8 unspecified): the published zoo's ``GC8*_EXC`` model for the
  frame rate (downloaded on first use);
- OGB-1 in zebrafish at 7.5 Hz: the published ``OGB_zf_pDp`` model;
- anything else (GCaMP7f, jRGECO1a, OGB-1 in mouse, Cal-520..., an indicator of no stated variant,
  one the table does not know, or none stated): the general excitatory model for the frame rate,
  which was trained across indicators; the reason says that an unknown indicator is taken for a
  calcium indicator.  (Whether the series measures calcium at all is decided before: sensors of
  other things are refused by the workflows.)

When two sources name different indicators, the general model is used and the reason
says why.  Each choice comes with a one-line reason, recorded in the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .sensors import CALCIUM, mentions
from .zoo import bundled_models, closest_model, default_model_name, registry

BUNDLED = {"GCaMP6f": "GCaMP6f_mouse_V1_30Hz_smoothing50ms", "GCaMP6s": "GCaMP6s_mouse_V1_30Hz_smoothing50ms"}
BUNDLED_RATE = 30.0
#: Indicator -> published name prefix of its models.
ZOO_PREFIXES = {"jGCaMP8f": "GC8f_EXC", "jGCaMP8m": "GC8m_EXC", "jGCaMP8s": "GC8s_EXC", "GCaMP8": "GC8_EXC"}


@dataclass(frozen=True)
class ModelChoice:
    """A model name and why it was chosen (one line, for the output's provenance)."""

    name: str
    reason: str


def parse_indicator(text: str | None) -> str | None:
    """The calcium indicator a free-text field or genotype names, in a canonical spelling, or None (the first
    specific calcium indicator of :data:`~nwb_cascade.cascade.sensors.SENSORS` that the text names)."""
    for mention in mentions(text):
        if mention.measures == CALCIUM and mention.sensor.specific:
            return mention.name
    return None


def _unrecognised(text: str) -> str:
    """Why an indicator text gives no specific model: a calcium indicator of no stated variant, or unknown."""
    if any(mention.measures == CALCIUM for mention in mentions(text)):
        return f"indicator {text!r} names a calcium indicator but not its variant"
    return f"indicator {text!r} not recognised, taken for a calcium indicator"


def choose_model(frame_rate: float, *, plane_indicator: str | None = None, genotype: str | None = None,
                 species: str | None = None, stated: tuple[str, str] | None = None) -> ModelChoice:
    """The model for a recording (see the module docstring); ``stated`` is an indicator and where it was
    stated (``("GCaMP6s", "--indicator")``), which replaces the imaging plane's and the genotype's."""
    general = default_model_name(frame_rate)
    if stated is not None:
        text, where = stated
        indicator = parse_indicator(text)
        if indicator is None:
            return ModelChoice(general, f"{_unrecognised(text)} ({where}): the general model for {frame_rate:.3g} Hz")
    else:
        from_plane, from_genotype = parse_indicator(plane_indicator), parse_indicator(genotype)
        if from_plane and from_genotype and from_plane != from_genotype:
            return ModelChoice(general, f"the imaging plane names {from_plane} but the genotype {from_genotype}: the "
                                        f"general model for {frame_rate:.3g} Hz")
        indicator = from_plane or from_genotype
        where = "imaging plane" if from_plane else "genotype"
        if indicator is None:
            text = plane_indicator or genotype
            return ModelChoice(general, (_unrecognised(text) if text else
                                         "no indicator stated, taken for a calcium indicator")
                               + f": the general model for {frame_rate:.3g} Hz")
    zebrafish = bool(species) and re.search(r"danio|zebrafish", species, re.IGNORECASE) is not None
    if indicator in BUNDLED and abs(frame_rate - BUNDLED_RATE) <= 0.05 * BUNDLED_RATE and not zebrafish \
            and BUNDLED[indicator] in bundled_models():
        return ModelChoice(BUNDLED[indicator], f"{indicator} ({where}) at {frame_rate:.3g} Hz: the model trained on "
                                               f"{indicator} mouse V1 ground truth")
    prefix = ZOO_PREFIXES.get(indicator) or ("OGB_zf_pDp" if indicator == "OGB-1" and zebrafish else None)
    if prefix is not None:
        name = closest_model(list(registry()), prefix, frame_rate)
        if name is not None:
            return ModelChoice(name, f"{indicator} ({where}) at {frame_rate:.3g} Hz: the published {indicator} model")
    return ModelChoice(general, f"{indicator} ({where}): no model specific to it at {frame_rate:.3g} Hz, the general "
                                f"model for {frame_rate:.3g} Hz (trained across indicators)")

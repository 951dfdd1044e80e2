"""Which model suits a recording's calcium indicator, frame rate and species.

The indicator is read from free text: an imaging plane's ``indicator`` field ("GCaMP6f",
"jGCaMP8m", "OGB-1"...) or a mouse genotype ("...Ai93(TITL-GCaMP6f)...", where the
Allen Institute's reporter lines Ai93/Ai148 carry GCaMP6f and Ai94/Ai162 GCaMP6s).  Then:

- GCaMP6f or GCaMP6s at 30 Hz: the bundled model trained on that indicator's mouse V1
  ground truth;
- jGCaMP8f/m/s (or GCaMP8 unspecified): the published zoo's ``GC8*_EXC`` model for the
  frame rate (downloaded on first use);
- OGB-1 in zebrafish at 7.5 Hz: the published ``OGB_zf_pDp`` model;
- anything else (GCaMP7f, jRGECO1a, OGB-1 in mouse, Cal-520..., or no indicator stated): the
  general excitatory model for the frame rate, which was trained across indicators.

When two sources name different indicators, the general model is used and the reason
says why.  Each choice comes with a one-line reason, recorded in the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .zoo import bundled_models, closest_model, default_model_name, registry

#: The Allen Institute's reporter lines and the indicator each expresses.
REPORTERS = {"Ai93": "GCaMP6f", "Ai148": "GCaMP6f", "Ai94": "GCaMP6s", "Ai162": "GCaMP6s"}
BUNDLED = {"GCaMP6f": "GCaMP6f_mouse_V1_30Hz_smoothing50ms", "GCaMP6s": "GCaMP6s_mouse_V1_30Hz_smoothing50ms"}
BUNDLED_RATE = 30.0
#: Indicator -> published name prefix of its models.
ZOO_PREFIXES = {"jGCaMP8f": "GC8f_EXC", "jGCaMP8m": "GC8m_EXC", "jGCaMP8s": "GC8s_EXC", "GCaMP8": "GC8_EXC"}
_PATTERNS = (
    (re.compile(r"(?:^|[^a-z0-9])j?g(?:camp|c)\s*-?\s*8\s*-?\s*([fms])(?![a-z])", re.IGNORECASE), "jGCaMP8{}"),
    (re.compile(r"(?:^|[^a-z0-9])j?g(?:camp|c)\s*-?\s*8(?![0-9a-z])", re.IGNORECASE), "GCaMP8"),
    (re.compile(r"(?:^|[^a-z0-9])j?g(?:camp|c)\s*-?\s*7\s*-?\s*([fsbc])(?![a-z])", re.IGNORECASE), "jGCaMP7{}"),
    (re.compile(r"(?:^|[^a-z0-9])g(?:camp|c)\s*-?\s*6\s*-?\s*([fms])(?![a-z])", re.IGNORECASE), "GCaMP6{}"),
    (re.compile(r"j?rgeco\s*-?\s*1a", re.IGNORECASE), "jRGECO1a"),
    (re.compile(r"r-?camp", re.IGNORECASE), "R-CaMP"),
    (re.compile(r"ogb\s*-?\s*1|oregon\s*green", re.IGNORECASE), "OGB-1"),
    (re.compile(r"cal\s*-?\s*520", re.IGNORECASE), "Cal-520"),
    (re.compile(r"xcamp", re.IGNORECASE), "XCaMP"),
    (re.compile(r"gcamp\s*-?\s*5k", re.IGNORECASE), "GCaMP5k"),
)


@dataclass(frozen=True)
class ModelChoice:
    """A model name and why it was chosen (one line, for the output's provenance)."""

    name: str
    reason: str


def parse_indicator(text: str | None) -> str | None:
    """The indicator a free-text field or genotype names, in a canonical spelling, or None."""
    if not text:
        return None
    for pattern, spelling in _PATTERNS:
        match = pattern.search(text)
        if match:
            return spelling.format(*(group.lower() for group in match.groups()))
    for reporter, indicator in REPORTERS.items():
        if re.search(rf"\b{reporter}\b", text):
            return indicator
    return None


def choose_model(frame_rate: float, *, plane_indicator: str | None = None, genotype: str | None = None,
                 species: str | None = None) -> ModelChoice:
    """The model for a recording (see the module docstring)."""
    from_plane, from_genotype = parse_indicator(plane_indicator), parse_indicator(genotype)
    general = default_model_name(frame_rate)
    if from_plane and from_genotype and from_plane != from_genotype:
        return ModelChoice(general, f"the imaging plane names {from_plane} but the genotype {from_genotype}: the "
                                    f"general model for {frame_rate:.3g} Hz")
    indicator = from_plane or from_genotype
    where = "imaging plane" if from_plane else "genotype"
    if indicator is None:
        stated = plane_indicator or genotype
        return ModelChoice(general, (f"indicator {stated!r} not recognised" if stated else "no indicator stated")
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

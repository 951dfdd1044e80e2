"""What a series measures, and whether a run reads it: the indicator, the species, the cells.

A run infers spikes only from calcium indicators in spiking neurons.  For each series,
:func:`read_measure` decides, from what the file says of it (never from a list of known files):

1. **What its fluorescence measures**, from the table of :mod:`nwb_cascade.cascade.sensors`, reading
   the file's texts in order of how closely they describe the series:

   1. its imaging plane's ``indicator``;
   2. its own name, its container's name, its description and comments;
   3. its ROI table's name and description, its imaging plane's name and description, its optical
      channels;
   4. the subject's genotype, description and strain, and the session's ``virus``.

   The first of these that names an indicator or sensor decides (structural fluorescent proteins,
   such as a tdTomato label, count only when nothing else is named; phrases such as "calcium
   imaging" only when no indicator is named).  When it names several kinds of sensor (a two-channel
   file: "jGCaMP8s and GACh3.0"), the next texts that name only some of them narrow it down (the
   series named ``..._GACh``).  A series whose own names or description name another kind of sensor
   than the one decided is ambiguous.  Nothing named: taken for a calcium indicator.
2. **The species**: a subject whose neurons do not fire action potentials (C. elegans), and
3. **the cells**: a series, container or ROI table named for glia or astrocytes (or other cells that
   fire no action potentials), from :mod:`nwb_cascade.cascade.preparations`.

The verdict: :data:`RUN`; :data:`REFUSE` (a sensor of something other than calcium, a calcium
signal Cascade does not read, or an ambiguous one): forced only by naming the indicator
(``--indicator NAME``, which replaces what the file says) together with a model (``--model``);
:data:`SKIP` (species, cells): forced with ``--spiking-cells``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cascade.preparations import CELL_CLASSES, NON_SPIKING_SPECIES, named
from ..cascade.sensors import CALCIUM, STRUCTURAL, Mention, mentions

RUN, REFUSE, SKIP = "run", "refuse", "skip"
PLANE_INDICATOR = "imaging plane indicator"
GENOTYPE = "subject genotype"
GIVEN = "--indicator"
FORCE = ("to run it anyway (its rates would not be calibrated spikes), name its indicator and a model: --indicator "
         "NAME --model MODEL (indicator= and model= in Python)")
FORCE_CELLS = "to run it anyway, --spiking-cells (spiking_cells=True in Python)"


@dataclass(frozen=True)
class Overrides:
    """What the user says over the file: the indicator of the chosen series (``indicator``), that a model was
    named (``model_given``), that the chosen series are spiking neurons whatever the species or ROI names say
    (``spiking_cells``)."""

    indicator: str | None = None
    model_given: bool = False
    spiking_cells: bool = False


@dataclass(frozen=True)
class Reading:
    """What a series is taken to measure, and whether a run reads it.

    Attributes
    ----------
    measures
        What its fluorescence follows (``"calcium"``, ``"acetylcholine"``...); ``"calcium"`` when
        nothing names it.
    indicator
        The indicator or sensor named, canonical (``"GACh3.0"``), or None.
    where
        Where that was read (``"imaging plane indicator"``, ``"series name"``, ``"--indicator"``...),
        or ``""`` when nothing names it.
    verdict
        :data:`RUN`, :data:`REFUSE` or :data:`SKIP`.
    reason
        Why not (refused, skipped), with how to force it; or what is assumed or forced (run).
    """

    measures: str
    indicator: str | None
    where: str
    verdict: str
    reason: str

    @property
    def runs(self) -> bool:
        return self.verdict == RUN

    @property
    def forced(self) -> bool:
        return self.runs and self.reason.startswith("forced")

    def taken_for(self) -> str:
        """What it is taken for, in words: ``"calcium (GCaMP6f, imaging plane indicator)"``."""
        if not self.where:
            return f"{self.measures} (no indicator named)"
        return f"{self.measures} ({self.indicator}, {self.where})"


def read_measure(series: Any, container_name: str, nwbfile: Any, overrides: Overrides | None = None) -> Reading:
    """What ``series`` (in the container ``container_name``, ``""`` for one directly in a module) measures, and
    the verdict of a run on it (see the module docstring)."""
    overrides = overrides or Overrides()
    if overrides.indicator:
        named_here = mentions(overrides.indicator)
        measures = named_here[0].measures if named_here else CALCIUM
        indicator, where, ambiguity = overrides.indicator, GIVEN, ""
    else:
        measures, indicator, where, ambiguity = _decide(_texts(series, container_name, nwbfile))
    skips = [] if overrides.spiking_cells else _skips(series, container_name, nwbfile)
    if ambiguity:
        return Reading(measures, indicator, where, REFUSE, f"{ambiguity}; say which with --indicator NAME (and "
                                                                 "--series PATH)" + _also(skips))
    if measures != CALCIUM:
        what = f"{indicator} ({where}) is a sensor of {measures}" if measures != STRUCTURAL else \
            f"{indicator} ({where}) is a structural fluorescent protein: it measures {measures}"
        if where == GIVEN and overrides.model_given:
            return Reading(measures, indicator, where, RUN, f"forced: {what}, run with the model given; Cascade's "
                                                            "models were trained on calcium indicators, so these rates "
                                                            "are not calibrated spikes")
        fix = "also name a model with --model" if where == GIVEN else FORCE
        return Reading(measures, indicator, where, REFUSE,
                       f"{what}, not a calcium indicator whose ΔF/F Cascade's models read; {fix}" + _also(skips))
    if skips:
        return Reading(measures, indicator, where, SKIP, "; ".join(skips) + f"; {FORCE_CELLS}")
    if overrides.spiking_cells and _skips(series, container_name, nwbfile):
        note = "forced (--spiking-cells): " + "; ".join(_skips(series, container_name, nwbfile))
    elif not where:
        note = "no indicator named: taken for a calcium indicator"
    elif not mentions(indicator):
        note = f"{indicator} ({where}): not in the table of indicators, taken for a calcium indicator"
    elif not any(mention.sensor.specific for mention in mentions(indicator)):
        note = f"{indicator} ({where}): a calcium indicator of no stated variant"
    else:
        note = f"{indicator} ({where}): a calcium indicator"
    return Reading(measures, indicator, where, RUN, note)


def _also(skips: list[str]) -> str:
    return f" (besides, {'; '.join(skips)})" if skips else ""


def _texts(series: Any, container_name: str, nwbfile: Any) -> list[list[tuple[str, str]]]:
    """The file's texts about a series, most specific first (see the module docstring), as (where, text)."""
    table = _get(series, "rois", "table")
    plane = getattr(table, "imaging_plane", None)
    subject = getattr(nwbfile, "subject", None)
    channels = [(f"optical channel {channel.name!r}", f"{channel.name} {channel.description or ''}")
                for channel in (getattr(plane, "optical_channel", None) or [])]
    return [
        [(PLANE_INDICATOR, getattr(plane, "indicator", None))],
        [("series name", series.name), ("container name", container_name), ("series description", series.description),
         ("series comments", series.comments)],
        [("ROI table name", getattr(table, "name", None)),
         ("ROI table description", getattr(table, "description", None)),
         ("imaging plane name", getattr(plane, "name", None)),
         ("imaging plane description", getattr(plane, "description", None)), *channels],
        [(GENOTYPE, getattr(subject, "genotype", None)), ("subject description", getattr(subject, "description", None)),
         ("subject strain", getattr(subject, "strain", None)), ("session virus", getattr(nwbfile, "virus", None))],
    ]


def _get(obj: Any, *names: str) -> Any:
    for name in names:
        try:
            obj = getattr(obj, name, None)
        except Exception:  # a dangling region: the layout check reports it
            return None
    return obj


def _named_in(tier: list[tuple[str, str]]) -> list[tuple[str, Mention]]:
    """What a tier of texts names: activity sensors (specific names, else phrases), else structural proteins."""
    found = [(where, mention) for where, text in tier for mention in mentions(text)]
    activity = [(where, mention) for where, mention in found if mention.measures != STRUCTURAL]
    specific = [(where, mention) for where, mention in activity if mention.sensor.specific]
    return specific or activity or found


def _decide(tiers: list[list[tuple[str, str]]]) -> tuple[str, str | None, str, str]:
    """(measures, indicator, where, ambiguity) from the tiers of texts."""
    named_by = [_named_in(tier) for tier in tiers]
    for level, found in enumerate(named_by):
        if not found:
            continue
        kinds = list(dict.fromkeys(mention.measures for _, mention in found))
        for later in named_by[level + 1:len(tiers) - 1]:  # narrowed by the series' and its plane's own texts
            narrower = [kind for kind in kinds if any(mention.measures == kind for _, mention in later)]
            if len(kinds) > 1 and narrower and len(narrower) < len(kinds):
                kinds = narrower
        if len(kinds) > 1:
            listing = ", ".join(f"{mention.name} ({mention.measures}, {where})" for where, mention in found)
            return kinds[0], None, found[0][0], f"the file names several kinds of sensor for this series: {listing}"
        kind = kinds[0]
        where, mention = next((where, mention) for where, mention in found if mention.measures == kind)
        own = [(w, m) for w, m in named_by[1] if m.measures not in (kind, STRUCTURAL) and m.sensor.specific]
        if level != 1 and own:
            listing = ", ".join(f"{m.name} ({m.measures}, {w})" for w, m in own)
            return kind, mention.name, where, (f"its {where} names {mention.name} ({kind}) but its own names say "
                                               f"{listing}")
        return kind, mention.name, where, ""
    return CALCIUM, None, "", ""


def _skips(series: Any, container_name: str, nwbfile: Any) -> list[str]:
    """Why the series' species or cells are outside what Cascade calibrates (empty: they are not)."""
    reasons = []
    subject = getattr(nwbfile, "subject", None)
    species = getattr(subject, "species", None)
    found = named(species, NON_SPIKING_SPECIES)
    if found is not None:
        reasons.append(f"the subject is {species!r} ({found.preparation.name}): {found.preparation.reason}")
    table = _get(series, "rois", "table")
    for where, text in (("series name", series.name), ("container name", container_name),
                        ("series description", series.description), ("ROI table name", getattr(table, "name", None)),
                        ("ROI table description", getattr(table, "description", None))):
        found = named(text, CELL_CLASSES)
        if found is not None:
            reasons.append(f"its {where} {text!r} names {found.words} ({found.preparation.name}): "
                           f"{found.preparation.reason}")
            break
    return reasons

"""What is special about Allen Brain Observatory sessions on DANDI.

Two layouts (both NWB 2, ΔF/F time-stamped at about 30 Hz):

- Visual Coding 2-photon (dandiset 000728): ``processing/ophys/DfOverF/DfOverF``;
- Visual Behavior 2-photon (dandiset 000711): ``processing/ophys/dff/traces``, ROIs in
  ``processing/ophys/image_segmentation/cell_specimen_table``.

The indicator comes from the subject's genotype (``...Ai93(TITL-GCaMP6f)...`` →
GCaMP6f; Ai94/Ai162 → GCaMP6s, Ai93/Ai148 → GCaMP6f when the name is not spelled out)
and picks the model trained on that indicator's mouse V1 ground truth.  The Allen ids
of the session (experiment, session, container) go into the results' ``source_ids``;
per-ROI ids (``cell_specimen_id``) stay in the ROI table, which the output file copies.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from pynwb import NWBFile

from .cascade.zoo import bundled_models
from .nwb.read import NWBInputError, find_series
from .run import RunSummary, infer, open_nwb
from .sources import SourceError, default_output, list_assets, resolve

log = logging.getLogger(__name__)

VISUAL_CODING = "000728"
VISUAL_BEHAVIOR = "000711"
SERIES = ("processing/ophys/DfOverF/DfOverF", "processing/ophys/dff/traces")
MODELS = {"GCaMP6f": "GCaMP6f_mouse_V1_30Hz_smoothing50ms", "GCaMP6s": "GCaMP6s_mouse_V1_30Hz_smoothing50ms"}
_REPORTERS = {"Ai93": "GCaMP6f", "Ai148": "GCaMP6f", "Ai94": "GCaMP6s", "Ai162": "GCaMP6s"}
_ID_FIELD = re.compile(r"^(ophys_)?(experiment|session|container|experiment_container|behavior_session)_id$")


@dataclass
class AllenSession:
    """What was read from an Allen session before inference."""

    series: str
    genotype: str | None
    indicator: str | None
    model: str
    ids: dict[str, str]


def indicator_from_genotype(genotype: str | None) -> str | None:
    """GCaMP6f or GCaMP6s from an Allen genotype string, or None when it names neither."""
    if not genotype:
        return None
    match = re.search(r"G(?:CaMP|C)6([fs])", genotype, re.IGNORECASE)  # Ai93(TITL-GCaMP6f), Ai148(TIT2L-GC6f-...)
    if match:
        return f"GCaMP6{match.group(1).lower()}"
    for reporter, indicator in _REPORTERS.items():
        if re.search(rf"\b{reporter}\b", genotype):
            return indicator
    return None


def model_for(indicator: str | None) -> str | None:
    """The bundled model trained on this indicator, or None (then the default for the rate)."""
    name = MODELS.get(indicator or "")
    if name is None:
        return None
    if name not in bundled_models():
        log.warning("the %s model %s is not bundled with this installation; using the default model", indicator,
                    name)
        return None
    return name


def session_ids(nwbfile: NWBFile) -> dict[str, str]:
    """The session's ids: ``session_id`` and the ``*_id`` fields of its lab metadata
    (ophys_experiment_id, ophys_session_id, ophys_container_id... where present)."""
    ids = {}
    if nwbfile.session_id:
        ids["session_id"] = str(nwbfile.session_id)
    for metadata in nwbfile.lab_meta_data.values():
        for key, value in metadata.fields.items():
            if _ID_FIELD.match(key) and value is not None:
                ids[key] = str(value)
    return ids


def read_session(nwbfile: NWBFile, series: str | None = None) -> AllenSession:
    """The ΔF/F series (of either layout), genotype, indicator, model and ids of a session."""
    paths = [info.path for info in find_series(nwbfile)]
    if series is None:
        series = next((path for path in SERIES if path in paths), None)
        if series is None:
            raise NWBInputError(
                "this file has neither Allen ΔF/F series (" + ", ".join(SERIES) + "); is it an Allen Brain "
                "Observatory session? Use nwb-cascade infer for other files. Series found: " + ", ".join(paths)
            )
    genotype = nwbfile.subject.genotype if nwbfile.subject is not None else None
    indicator = indicator_from_genotype(genotype)
    if indicator is None:
        log.warning("the genotype %r names neither GCaMP6f nor GCaMP6s: using the default model", genotype)
    return AllenSession(series, genotype, indicator, model_for(indicator) or "", session_ids(nwbfile))


def find_session(session_id: str) -> str:
    """The DANDI asset of an Allen id (experiment or session id): searched in the Visual Coding,
    then the Visual Behavior dandiset, among asset paths that hold the id."""
    for dandiset in (VISUAL_CODING, VISUAL_BEHAVIOR):
        found = list_assets(f"DANDI:{dandiset}", glob=f"*{session_id}*.nwb")
        if len(found) == 1:
            return found[0].reference
        if len(found) > 1:
            listing = "\n".join(f"  {asset.reference}" for asset in found)
            raise SourceError(f"Allen id {session_id} matches {len(found)} assets; give one of them:\n{listing}")
    raise SourceError(
        f"no asset of dandisets {VISUAL_CODING} or {VISUAL_BEHAVIOR} has {session_id} in its path; check the id, or "
        "give the asset (DANDI:000728/sub-.../file.nwb), a URL or a local file"
    )


def process_session(
    session: str | Path,
    output: str | Path | None = None,
    *,
    series: str | None = None,
    model: str | None = None,
    discrete_spikes: bool = True,
    overwrite: bool = False,
    device: str | None = None,
    progress: bool = False,
) -> RunSummary:
    """Infer spikes for an Allen Brain Observatory session into a new local NWB file.

    Parameters
    ----------
    session
        An Allen experiment or session id (looked up on DANDI), a DANDI asset, a URL or
        a local file.
    output
        The new file (default: named after the asset, in the working directory).
    series
        Override the ΔF/F series; default: the one of the Allen layout.
    model
        Override the model; default: the one trained on the genotype's indicator.
    discrete_spikes, overwrite, device, progress
        As for :func:`nwb_cascade.infer`.
    """
    text = str(session)
    if re.fullmatch(r"\d{6,}", text) and not Path(text).exists():
        text = find_session(text)
    source = resolve(text)
    output = Path(output) if output is not None else default_output(source)
    start = time.perf_counter()
    with open_nwb(source) as (_, nwbfile):
        allen = read_session(nwbfile, series)
    chosen = model or allen.model or None
    log.info("%s: %s, genotype %r (%s), model %s, ids %s", source.text, allen.series, allen.genotype,
             allen.indicator or "indicator unknown", chosen or "default for the rate", allen.ids)
    summary = infer(source, output, series=allen.series, model=chosen, discrete_spikes=discrete_spikes,
                    overwrite=overwrite, device=device, progress=progress,
                    provenance={"source_ids": json.dumps(allen.ids, sort_keys=True)} if allen.ids else None)
    summary.seconds = time.perf_counter() - start
    return summary


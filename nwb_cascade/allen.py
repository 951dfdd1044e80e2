"""What is special about Allen Brain Observatory sessions on DANDI: their ids, and where they are.

Nothing here chooses series or models: every file goes through the general rules
(:mod:`nwb_cascade.nwb.read` picks the ΔF/F of the Visual Coding layout,
``processing/ophys/DfOverF/DfOverF``, and of the Visual Behavior one,
``processing/ophys/dff/traces``, and passes over their event, neuropil and 1-D
series; :mod:`nwb_cascade.cascade.indicators` reads GCaMP6f or GCaMP6s from the
imaging plane and the genotype).  What this module adds:

- an Allen experiment or session id is looked up among the asset paths of the Visual
  Coding (000728), then the Visual Behavior (000711) dandiset; of the assets that hold
  it, the one whose DANDI metadata lists a ROI segmentation is the processed file (the
  Visual Coding conversion writes two files per session, the processed
  ``..._behavior+image+ophys.nwb`` and the raw movie ``..._ophys.nwb``);
- (as for every file, :func:`nwb_cascade.nwb.read.session_ids`) the session's Allen ids
  (``session_id``, and the ``ophys_experiment_id``, ``ophys_session_id``,
  ``ophys_container_id``... of its lab metadata) go into the results' ``source_ids``;
  per-ROI ids (``cell_specimen_id``) stay in the ROI table, which the output copies.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from .nwb.sources import SourceError, list_assets, resolve
from .options import RunOptions
from .spike_inference import RunSummary, infer

log = logging.getLogger(__name__)

VISUAL_CODING = "000728"
VISUAL_BEHAVIOR = "000711"


def find_session(session_id: str) -> str:
    """The processed DANDI asset of an Allen id (experiment or session id): searched in the Visual Coding,
    then the Visual Behavior dandiset, among asset paths that hold the id; of several, the ones whose
    DANDI metadata lists a ROI segmentation (the raw-movie files of Visual Coding list none)."""
    for dandiset in (VISUAL_CODING, VISUAL_BEHAVIOR):
        found = list_assets(f"DANDI:{dandiset}", glob=f"*{session_id}*.nwb")
        if len(found) > 1:
            processed = [asset for asset in found if asset.has_traces is not False]
            if processed:
                found = processed
        if len(found) == 1:
            return found[0].reference
        if len(found) > 1:
            listing = "\n".join(f"  {asset.reference}" for asset in found)
            raise SourceError(f"Allen id {session_id} matches {len(found)} assets with ROI traces; give one of them:"
                              f"\n{listing}")
    raise SourceError(
        f"no asset of dandisets {VISUAL_CODING} or {VISUAL_BEHAVIOR} has {session_id} in its path; check the id, or "
        "give the asset (DANDI:000728/sub-.../file.nwb), a URL or a local file"
    )


def process_session(session: str | Path, output: str | Path | None = None, *, overwrite: bool = False,
                    options: RunOptions | None = None, **overrides: Any) -> RunSummary:
    """Infer spikes for an Allen Brain Observatory session: :func:`nwb_cascade.infer` of an Allen id's processed
    asset, into a new local file (or a LINDI amendment: an ``output`` ending in ``.lindi.tar``).

    Parameters
    ----------
    session
        An Allen experiment or session id (looked up on DANDI), a DANDI asset, a URL or
        a local file.
    output
        The new file (default: named after the session's file, in the working directory;
        :func:`nwb_cascade.nwb.target.default_output`).
    overwrite
        Replace an existing output file.
    options, overrides
        The run's :class:`~nwb_cascade.options.RunOptions`, or its fields as keywords (``series``, ``model``,
        ``discrete_spikes``, ``device``, ``progress``...): default the general rules.
    """
    text = str(session)
    if re.fullmatch(r"\d{6,}", text) and not Path(text).exists():
        text = find_session(text)
    return infer(resolve(text), output, overwrite=overwrite, options=options, **overrides)

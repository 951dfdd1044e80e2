"""Species and cells whose calcium signals Cascade's ground truth cannot calibrate.

Cascade turns the ΔF/F of neurons that fire action potentials into spike rates, calibrated on
simultaneous electrophysiology of such neurons (Rupprecht et al. 2021, Nat Neurosci 24:1324-1337:
mouse and zebrafish neurons).  Where the cells signal otherwise, its rates are not spikes:

- :data:`NON_SPIKING_SPECIES`: animals whose neurons signal with graded potentials, named by the
  subject's ``species``;
- :data:`CELL_CLASSES`: cells that fire no action potentials (glia, the graded neurons of the
  retina), named by a series', its container's or its ROI table's name or description.

Each row cites the publication that says so.  A name preceded by a negation (*non-glial*, *not
astrocytes*, *excluding glia*) or followed by *excluded* does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RUPPRECHT = "Rupprecht et al. 2021, Nat Neurosci 24:1324-1337 (the ground truth: mouse and zebrafish neurons)"


@dataclass(frozen=True)
class Preparation:
    """One row: what is named, how text names it (case-insensitive), why Cascade cannot calibrate it, the source."""

    name: str
    pattern: re.Pattern
    reason: str
    source: str


def _row(name: str, pattern: str, reason: str, source: str) -> Preparation:
    return Preparation(name, re.compile(pattern, re.IGNORECASE), reason, source)


#: Species whose neurons do not fire the action potentials Cascade calibrates.
NON_SPIKING_SPECIES: tuple[Preparation, ...] = (
    _row("Caenorhabditis elegans", r"caenorhabditis|(?<![a-z])c\.?\s*elegans|ncbitaxon[_:\s]6239(?![0-9])",
         "its neurons signal mostly with graded potentials, not the action potentials whose calcium transients "
         "Cascade's ground truth calibrates",
         f"Goodman et al. 1998, Neuron 20:763-772; {_RUPPRECHT}"),
    _row("Ascaris", r"ascaris",
         "its motor neurons signal with graded potentials, not the action potentials Cascade's ground truth "
         "calibrates", f"Davis & Stretton 1989, J Neurosci 9:415-425; {_RUPPRECHT}"),
)

#: Cells that fire no action potentials.
CELL_CLASSES: tuple[Preparation, ...] = (
    _row("glia", r"(?<![a-z])(?:astro(?:cyte|glia)\w*|micro\s*-?\s*glia\w*|oligodendro\w*|bergmann\s+glia\w*|"
                 r"m[üu]ller\s+(?:glia|cell)\w*|radial\s+glia\w*|glia\w*)",
         "glial calcium signals are not driven by action potentials, and Cascade's ground truth holds neurons only",
         f"Bazargani & Attwell 2016, Nat Neurosci 19:182-189; {_RUPPRECHT}"),
    _row("non-spiking retinal neurons", r"(?<![a-z])(?:bipolar\s+cells?|photoreceptors?)(?![a-z])",
         "they signal with graded potentials, not the action potentials Cascade's ground truth calibrates",
         f"Euler et al. 2014, Nat Rev Neurosci 15:507-519; {_RUPPRECHT}"),
)

_NEGATED_BEFORE = re.compile(r"(?:\bnon|\bnot|\bno|\bexcluding|\bwithout|\bexcept)[\s-]*(?:\w+[\s-]+)?$", re.IGNORECASE)
_NEGATED_AFTER = re.compile(r"^\W*(?:\w+\s+)?(?:excluded|removed|rejected)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    """A row that a text names, and the words it used."""

    preparation: Preparation
    words: str


def _apart(text: str) -> str:
    """CamelCase and snake_case words apart (``GliaDfOverF`` -> ``Glia Df Over F``)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", " ", text).replace("_", " ")


def named(text: str | None, rows: tuple[Preparation, ...]) -> Match | None:
    """The first row of ``rows`` that ``text`` names (not under a negation), or None."""
    text = _apart(str(text or ""))
    for row in rows:
        for found in row.pattern.finditer(text):
            before, after = text[max(0, found.start() - 25):found.start()], text[found.end():found.end() + 25]
            if not _NEGATED_BEFORE.search(before) and not _NEGATED_AFTER.search(after):
                return Match(row, found.group(0))
    return None

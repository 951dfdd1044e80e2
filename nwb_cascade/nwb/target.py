"""Where a run writes, and what it records of where its input came from: one guard for both workflows.

- :func:`check_target`: the file a run writes: the source itself (in place: local HDF5 files only),
  or a new file (that must not exist unless ``overwrite``, and must not be the source).
- :func:`working_copy`: in place, the source's working copy (:func:`~nwb_cascade.nwb.inplace.amended`),
  cleared of what interrupted runs of earlier versions left in the results' module.
- :func:`refuse_existing`: results a run would add that the file already holds: refused, unless
  ``overwrite`` (then the caller removes them from the working copy first).
- :func:`provenance`: the source file's identifier, where it was read from (path or URL, DANDI ids),
  and its session's archive ids.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from pynwb import NWBFile

from .inplace import NWBWriteError, amended
from .read import NWBInputError, session_ids
from .sources import Source, SourceError
from .write import remove_groups


def check_target(source: Source, output: str | Path | None, *, in_place: bool, overwrite: bool) -> Path:
    """The file a run writes, after refusing what cannot be done.

    Raises
    ------
    NWBInputError
        Neither or both of ``output`` and ``in_place``; an output that is the source itself.
    SourceError, NWBWriteError
        In place into a remote source or an NWB Zarr store.
    FileExistsError
        An output that exists, without ``overwrite``.
    """
    if in_place == (output is not None):
        raise NWBInputError("give either an output file or in_place=True (--in-place), not both or neither")
    if in_place:
        if source.remote:
            raise SourceError(f"{source.text} is remote and read-only: write the results to a new local file instead "
                              "(--output)")
        if source.zarr:
            raise NWBWriteError(f"{source.text} is an NWB Zarr store: write the results to a new file (--output) "
                                "instead of into the store")
        return source.path
    output = Path(output)
    if output.exists() and not source.remote and output.resolve() == source.path.resolve():
        raise NWBInputError("the output is the input file; add the results to it in place (--in-place) instead")
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; choose another output or pass overwrite=True (--overwrite)")
    return output


@contextlib.contextmanager
def working_copy(source: Source, module: str) -> Iterator[Source]:
    """In place: the source's working copy (replacing the file when the body returns), named as the source in
    messages, without the staging groups that interrupted runs of versions before 0.2 left in ``module``."""
    with amended(source.path) as copy:
        remove_groups(copy, module, [])
        yield Source(text=source.text, path=copy)


def refuse_existing(nwbfile: NWBFile, name: str, module: str, names: list[str], overwrite: bool,
                    what: str) -> list[str]:
    """Of the results ``names``, those that ``processing/module`` already holds (to remove from the working copy
    before writing); refused unless ``overwrite``.  ``name``: the file, as messages call it; ``what``: the results."""
    held = nwbfile.processing.get(module)
    existing = [item for item in names if held is not None and item in held.data_interfaces]
    if existing and not overwrite:
        listing = ", ".join(f"processing/{module}/{item}" for item in existing)
        raise NWBInputError(f"{name} already holds {what + ' ' if what else ''}{listing}; pass overwrite=True "
                            "(--overwrite) to replace them")
    return existing


def provenance(nwbfile: NWBFile, source: Source) -> dict[str, str]:
    """Where results come from: the source file's identifier, its path or URL and DANDI ids, and its session's ids."""
    ids = session_ids(nwbfile)
    return {"source_identifier": nwbfile.identifier, **source.provenance(),
            **({"source_ids": json.dumps(ids, sort_keys=True)} if ids else {})}

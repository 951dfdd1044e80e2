"""Where a run writes, and what it records of where its input came from: one target for every workflow.

- :func:`choose_target`: the :class:`Target` of a run: the source itself (in place: local HDF5 files
  only), a new file (named by :func:`default_output` unless given; it must not exist unless
  ``overwrite``, must not be the source, and its folder must exist), or a LINDI amendment (an output
  ending in ``.lindi.tar``, of a remote source).
- :func:`default_output`, :func:`output_name`: the one naming rule of every command.
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
from dataclasses import dataclass
from pathlib import Path

from pynwb import NWBFile

from ..common.names import shortened
from .inplace import NWBWriteError, amended
from .read import NWBInputError, session_ids
from .session import remove_groups
from .sources import Source, SourceError, file_name, is_local, stem

#: The modes of a :class:`Target`.
IN_PLACE, NEW_FILE, AMENDMENT = "in place", "new file", "LINDI amendment"
LINDI_ENDING = ".lindi.tar"


@dataclass(frozen=True)
class Target:
    """Where a run writes: ``path`` (the source itself in place), how (``mode``), and whether it may replace."""

    source: Source
    path: Path
    mode: str
    overwrite: bool


def choose_target(source: Source, output: str | Path | None, *, in_place: bool = False, overwrite: bool = False,
                  kind: str = "cascade") -> Target:
    """The target of a run that writes the ``kind`` of output of ``source``, after refusing what cannot be done.

    ``in_place``: the source itself.  Else ``output`` (default: :func:`default_output`); an output
    ending in ``.lindi.tar`` is a LINDI amendment of a remote source (only its references and the
    results are written).

    Raises
    ------
    NWBInputError
        Both ``output`` and ``in_place``; an output that is the source itself; an output whose folder
        does not exist; an amendment of a local file.
    SourceError, NWBWriteError
        In place into a remote source or an NWB Zarr store.
    FileExistsError
        An output that exists, without ``overwrite``.
    """
    if in_place and output is not None:
        raise NWBInputError("give either an output file or in_place=True (--in-place), not both")
    if in_place:
        return Target(source, check_target(source, None, in_place=True, overwrite=overwrite), IN_PLACE, overwrite)
    path = Path(output) if output is not None else default_output(source, kind)
    if not path.parent.is_dir():
        raise NWBInputError(f"cannot write {path}: the folder {path.parent} does not exist; create it first or "
                            "choose another output")
    amendment = path.name.lower().endswith(LINDI_ENDING)
    if amendment and not source.remote:
        raise NWBInputError(f"{path}: a LINDI amendment references a remote file by URL, and {source.text} is local; "
                            "write a new NWB file (a name ending in .nwb) or add the results in place")
    return Target(source, check_target(source, path, in_place=False, overwrite=overwrite),
                  AMENDMENT if amendment else NEW_FILE, overwrite)


def output_name(source: str | Path | Source, kind: str = "cascade", extension: str = ".nwb") -> str:
    """The file name of the ``kind`` of output of ``source``: ``<stem>.<kind><extension>``
    (``sub-1_ses-2_ophys.nwb`` -> ``sub-1_ses-2_ophys.cascade.nwb``), named after the file, never after its
    folders or a URL's query; an empty ``kind`` gives ``<stem><extension>``.  A name longer than a file
    name may be is cut short and given a hash of the whole (:func:`~nwb_cascade.common.names.shortened`)."""
    return shortened(stem(file_name(source)), f"{'.' + kind if kind else ''}{extension}")


def default_output(source: str | Path | Source, kind: str = "cascade", *, folder: str | Path | None = None,
                   extension: str = ".nwb") -> Path:
    """Where a command writes the ``kind`` of output of ``source`` when no output is given: :func:`output_name`
    beside a local source, in the working directory for a remote one (URL, DANDI asset), in ``folder``
    when given (a batch's output folder).  The one naming rule of every command."""
    if folder is not None:
        return Path(folder) / output_name(source, kind, extension)
    if is_local(source):
        path = source.path if isinstance(source, Source) else Path(source)
        return path.with_name(output_name(path.name, kind, extension))
    return Path(output_name(source, kind, extension))


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

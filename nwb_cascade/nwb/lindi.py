"""Results of a remote NWB file as a LINDI amendment: a small local file that references the remote original by
URL and adds the results, without copying any of the original.

DANDI assets cannot be changed; an amendment is the nearest thing to annotating one in place.  LINDI
(``lindi`` on PyPI, from the DANDI and Flatiron team) stores an HDF5 file as a JSON of references
(``[url, offset, length]`` per chunk of the original) plus the chunks that were written, in one
``.nwb.lindi.tar``; h5py-like, so pynwb reads and appends to it as to an HDF5 file.  Opening the
amendment with ``lindi.LindiH5pyFile.from_lindi_file`` and pynwb gives the original session with the
``cascade`` module added; the original's data are fetched only when read.

What LINDI cannot store, and so what the results avoid here: datasets that grow while written (every
array is written whole, and tables with ``expandable=()``), compound and unicode datasets, external links,
HDF5-only filters (shuffle, fletcher32).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pynwb import NWBHDF5IO, NWBFile

from ..common.cache import LINDI, cache_folder
from ..common.files import atomic_write
from .read import NWBInputError
from .sources import Source


@contextlib.contextmanager
def amendment(source: Source, output: Path) -> Iterator[tuple[NWBHDF5IO, NWBFile]]:
    """The remote ``source`` opened as a LINDI file to append to; when the body returns, the amendment is complete
    and moved to ``output`` (written under a temporary name until then).  The caller writes with
    ``io.write(nwbfile, expandable=())``."""
    import lindi

    if not source.remote:
        raise NWBInputError(f"{source.text} is a local file: add the results to it in place (--in-place) or write a "
                            "new file; a LINDI amendment references a remote file")
    if source.zarr:
        raise NWBInputError(f"{source.text} is an NWB Zarr store; a LINDI amendment references an HDF5 file")
    output.parent.mkdir(parents=True, exist_ok=True)
    cache = lindi.LocalCache(cache_dir=str(cache_folder(LINDI)))
    with atomic_write(output) as partial:  # keeps the ending .lindi.tar, which LINDI goes by
        reference = lindi.LindiH5pyFile.from_hdf5_file(source.url, local_cache=cache)
        try:
            reference.write_lindi_file(str(partial))
        finally:
            reference.close()
        handle = lindi.LindiH5pyFile.from_lindi_file(str(partial), mode="r+", local_cache=cache)
        io = NWBHDF5IO(file=handle, mode="a")
        try:
            yield io, io.read()
        finally:
            io.close()  # writes lindi.json into the tar

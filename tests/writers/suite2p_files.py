"""suite2p output folders, and suite2p 1.1's own NWB export run for real on them.

:func:`make_suite2p_folder` writes the files suite2p 1.1 writes (``planeN/F.npy``, ``Fneu.npy``,
``stat.npy``...), from traces the test chooses.  :func:`suite2p_export` runs ``suite2p.io.save_nwb`` on
such a folder.  suite2p cannot live in the test environment: importing it imports cellpose, which
needs torchvision, which needs another torch than the pinned one; and its ``save_nwb`` does not run on
pynwb 4 (an external ``TwoPhotonSeries`` without ``num_samples``).  So the export runs in a separate
environment that only writes fixture files: ``.venv-writers`` beside the checkout (``.ci/run`` makes it:
``torch==2.14.1 torchvision==0.29.1 suite2p==1.1.0 pynwb==3.1.3``), or the Python that
``$NWB_CASCADE_WRITERS_PYTHON`` names.  Without it, the tests that need it skip and say how to make it.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import numpy as np

from .common import SESSION_START_TIME, make_masks

REPOSITORY = Path(__file__).resolve().parents[2]
EXPORT_SCRIPT = Path(__file__).resolve().with_name("suite2p_export.py")


def writers_python() -> Path | None:
    """The Python of the suite2p writer environment, if there is one."""
    named = os.environ.get("NWB_CASCADE_WRITERS_PYTHON")
    candidate = Path(named) if named else REPOSITORY / ".venv-writers" / "bin" / "python"
    return candidate if candidate.is_file() else None


def suite2p_export(folder: Path) -> Path:
    """Run suite2p 1.1's ``save_nwb`` on a suite2p output folder (in the writer environment); its ``ophys.nwb``."""
    python = writers_python()
    if python is None:
        raise FileNotFoundError("no suite2p writer environment (.venv-writers, or $NWB_CASCADE_WRITERS_PYTHON)")
    done = subprocess.run([str(python), str(EXPORT_SCRIPT), str(folder)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"suite2p's save_nwb failed:\n{done.stdout}\n{done.stderr}")
    return Path(folder) / "ophys.nwb"


# --------------------------------------------------------------------------------------------------
# 3. suite2p output folder, and NeuroConv's Suite2p interface on it
# --------------------------------------------------------------------------------------------------
def _stat_entry(mask: np.ndarray, plane_index: int) -> dict:
    ypix, xpix = np.nonzero(mask)
    lam = mask[ypix, xpix].astype("float32")
    npix = int(ypix.size)
    med = [int(np.median(ypix)), int(np.median(xpix))]
    radius = float(np.sqrt(npix / np.pi))
    return {
        "ypix": ypix.astype("int32"),
        "xpix": xpix.astype("int32"),
        "lam": lam,
        "npix": npix,
        "med": med,
        "footprint": 1.0,
        "mrs": radius,
        "mrs0": radius,
        "compact": 1.0,
        "solidity": 1.0,
        "radius": radius,
        "aspect_ratio": 1.0,
        "npix_norm": 1.0,
        "npix_norm_no_crop": 1.0,
        "npix_soma": npix,
        "soma_crop": np.ones(npix, dtype=bool),
        "overlap": np.zeros(npix, dtype=bool),
        "skew": 0.0,
        "std": 1.0,
        "iplane": plane_index,
    }


def _synthetic_movie(F: np.ndarray, masks: np.ndarray, Fneu: np.ndarray | None) -> np.ndarray:
    """frames x Ly x Lx int16: each ROI's pixels carry its F value, the rest the mean neuropil."""
    frames = np.tensordot(F.T.astype("float64"), masks.astype("float64"), axes=(1, 0))
    if Fneu is not None and Fneu.shape[0]:
        outside = masks.sum(axis=0) == 0
        frames[:, outside] += Fneu.mean(axis=0)[:, None]
    return np.clip(np.rint(frames), -(2**15), 2**15 - 2).astype("int16")


def make_suite2p_folder(
    folder,
    planes: list[dict],
    rate: float,
    *,
    movie: bool = False,
    frame_shape: tuple[int, int] = (32, 32),
    write_ops: bool = True,
    filelist: list | None = None,
) -> Path:
    """Write a suite2p output folder (``folder/plane0``, ``folder/plane1``, ...).

    Follows suite2p 1.1.0's on-disk outputs (read from the wheel: ``run_s2p.py`` ``run_s2p`` /
    ``run_plane``, ``pipeline_s2p.py`` ``pipeline``, ``io/utils.py`` ``init_dbs``, ``io/binary.py``
    ``BinaryFile``) so that BOTH readers accept it:

    * roiextractors 0.10.0 ``Suite2pSegmentationExtractor`` (needs ``ops.npy`` with fs, nframes, Ly,
      Lx [+ meanImg, Vcorr, yrange, xrange], ``stat.npy``, ``F.npy``, ``Fneu.npy``, ``spks.npy``,
      ``iscell.npy``; second channel from ``F_chan2.npy`` in plane0);
    * suite2p 1.1.0 ``suite2p.io.nwb.save_nwb(folder)`` (needs per plane ``settings.npy`` (fs,
      filelist), ``db.npy`` (nframes, Ly, Lx, nplanes, nchannels, data_path), ``reg_outputs.npy``
      (meanImg, yrange, xrange), ``detect_outputs.npy`` (Vcorr, max_proj), F/Fneu/spks/iscell/stat).

    Each ``planes[i]`` dict: ``F`` (n_rois, n_frames) required; optional ``Fneu`` (default
    zeros), ``spks`` (default zeros, as suite2p writes when deconvolution is off),
    ``iscell`` ((n_rois, 2) or (n_rois,) of 0/1; default all cells, probability 1), ``masks``
    ((n_rois, Ly, Lx), default :func:`make_masks`), ``meanImg``, ``movie`` ((frames, Ly, Lx)),
    ``F_chan2`` / ``Fneu_chan2`` (then nchannels=2; give them for every plane).

    Planes may be shorter than plane0 (each plane's ``nframes`` is its own; suite2p's export zero-pads
    later planes to the longest).  A plane0 *shorter* than a later plane makes suite2p's own export
    fail (it pads only planes after the first), so this warns.

    ``movie=True`` writes ``planeN/data.bin`` (int16, frames x Ly x Lx, C order, the layout of
    suite2p's ``BinaryFile`` memmap) from ``movie`` or a synthetic movie built from F and the masks,
    records it as ``db["reg_file"]``, and lists every plane's ``data.bin`` in ``settings["filelist"]``
    (the key suite2p's export reads for ``TwoPhotonSeries.external_file``; suite2p 1.1 itself never
    writes that key, it keeps the input files in ``db["file_list"]``, which is set too).

    ``filelist`` lists other files in ``settings["filelist"]`` (suite2p before 1.0 kept its input TIFFs there,
    and they become the export's ``external_file``).

    ``write_ops=False`` leaves out ``ops.npy`` (suite2p 1.1 writes it when settings io.save_ops_orig,
    the default, is True; roiextractors 0.10 cannot read a folder without it).
    """
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    Ly, Lx = frame_shape
    nplanes = len(planes)
    nchannels = 2 if all("F_chan2" in plane for plane in planes) else 1
    lengths = [np.shape(plane["F"])[1] for plane in planes]
    if nplanes > 1 and lengths[0] < max(lengths):
        warnings.warn(
            "plane0 is shorter than a later plane: suite2p's save_nwb pads only planes after the first "
            "and will fail on this folder; roiextractors/NeuroConv read it fine.",
            UserWarning,
            stacklevel=2,
        )
    plane_folders = [folder / f"plane{index}" for index in range(nplanes)]
    binaries = [str(plane_folder / "data.bin") for plane_folder in plane_folders] if movie else []
    filelist = binaries if filelist is None else [str(path) for path in filelist]

    settings = {
        "version": "1.1.0",
        "torch_device": "cpu",
        "tau": 1.0,
        "fs": float(rate),
        "diameter": [12.0, 12.0],
        "run": {
            "do_registration": 1,
            "do_regmetrics": True,
            "do_detection": True,
            "do_deconvolution": True,
            "multiplane_parallel": False,
        },
        "io": {
            "combined": True,
            "save_mat": False,
            "save_NWB": False,
            "save_ops_orig": True,
            "delete_bin": False,
            "move_bin": False,
        },
        "extraction": {"neuropil_extract": True, "neuropil_coefficient": 0.7},
    }
    if filelist:
        settings["filelist"] = list(filelist)

    db_common = {
        "data_path": [str(folder.parent)],
        "look_one_level_down": False,
        "input_format": "binary" if movie else "tif",
        "keep_movie_raw": False,
        "nplanes": nplanes,
        "nrois": 1,
        "nchannels": nchannels,
        "functional_chan": 1,
        "save_path0": str(folder.parent),
        "save_folder": folder.name,
        "fast_disk": str(folder.parent),
        "file_list": list(filelist),
        "first_files": [True] + [False] * (len(filelist) - 1) if filelist else [],
    }
    np.save(folder / "db.npy", dict(db_common), allow_pickle=True)
    np.save(folder / "settings.npy", dict(settings), allow_pickle=True)

    for index, (plane, plane_folder) in enumerate(zip(planes, plane_folders)):
        plane_folder.mkdir(parents=True, exist_ok=True)
        F = np.asarray(plane["F"], dtype="float32")
        n_rois, n_frames = F.shape
        Fneu = np.asarray(plane.get("Fneu", np.zeros_like(F)), dtype="float32")
        spks = np.asarray(plane.get("spks", np.zeros_like(F)), dtype="float32")
        for name, array in (("Fneu", Fneu), ("spks", spks)):
            if array.shape != F.shape:
                raise ValueError(f"plane{index}: {name} shape {array.shape} != F shape {F.shape}")
        iscell = plane.get("iscell")
        if iscell is None:
            iscell = np.column_stack([np.ones(n_rois), np.ones(n_rois)])
        iscell = np.asarray(iscell, dtype="float64")
        if iscell.ndim == 1:
            iscell = np.column_stack([iscell, iscell])
        masks = plane.get("masks")
        masks = make_masks(n_rois, frame_shape) if masks is None else np.asarray(masks, dtype="float32")
        stat = np.array([_stat_entry(masks[roi], index) for roi in range(n_rois)], dtype=object)
        mean_image = plane.get("meanImg")
        if mean_image is None:
            mean_image = (masks * F.mean(axis=1)[:, None, None]).sum(axis=0)
        mean_image = np.asarray(mean_image, dtype="float32")
        max_projection = (masks * F.max(axis=1)[:, None, None]).sum(axis=0).astype("float32")
        correlation_image = masks.max(axis=0).astype("float32")

        np.save(plane_folder / "F.npy", F)
        np.save(plane_folder / "Fneu.npy", Fneu)
        np.save(plane_folder / "spks.npy", spks)
        np.save(plane_folder / "iscell.npy", iscell)
        np.save(plane_folder / "stat.npy", stat, allow_pickle=True)
        if nchannels > 1:
            np.save(plane_folder / "F_chan2.npy", np.asarray(plane["F_chan2"], dtype="float32"))
            np.save(plane_folder / "Fneu_chan2.npy", np.asarray(plane["Fneu_chan2"], dtype="float32"))

        db = dict(db_common)
        db.update(
            {
                "save_path": str(plane_folder),
                "fast_disk": str(plane_folder),
                "settings_path": str(plane_folder / "settings.npy"),
                "db_path": str(plane_folder / "db.npy"),
                "reg_file": str(plane_folder / "data.bin"),
                "iplane": index,
                "Ly": Ly,
                "Lx": Lx,
                "nframes": int(n_frames),
                "meanImg": mean_image.astype("float64"),
            }
        )
        reg_outputs = {
            "refImg": mean_image.astype("int16"),
            "meanImg": mean_image,
            "yrange": [0, Ly],
            "xrange": [0, Lx],
            "badframes": np.zeros(n_frames, dtype=bool),
            "yoff": np.zeros(n_frames, dtype="int32"),
            "xoff": np.zeros(n_frames, dtype="int32"),
            "corrXY": np.ones(n_frames, dtype="float32"),
        }
        detect_outputs = {"Vcorr": correlation_image, "max_proj": max_projection, "diameter": [12.0, 12.0]}
        np.save(plane_folder / "db.npy", db, allow_pickle=True)
        np.save(plane_folder / "settings.npy", dict(settings), allow_pickle=True)
        np.save(plane_folder / "reg_outputs.npy", reg_outputs, allow_pickle=True)
        np.save(plane_folder / "detect_outputs.npy", detect_outputs, allow_pickle=True)
        if write_ops:
            ops = {**db, **settings, **reg_outputs, **detect_outputs}
            ops["date_proc"] = SESSION_START_TIME
            ops["plane_times"] = {}
            np.save(plane_folder / "ops.npy", ops, allow_pickle=True)

        if movie:
            frames = plane.get("movie")
            if frames is None:
                frames = _synthetic_movie(F, masks, Fneu)
            frames = np.asarray(frames)
            if frames.shape != (n_frames, Ly, Lx):
                raise ValueError(f"plane{index}: movie shape {frames.shape} != {(n_frames, Ly, Lx)}")
            binary = np.memmap(plane_folder / "data.bin", mode="w+", dtype="int16", shape=frames.shape)
            binary[:] = np.clip(frames, -(2**15), 2**15 - 2).astype("int16")
            binary.flush()
            del binary
    return folder



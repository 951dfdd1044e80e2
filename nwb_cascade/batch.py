"""Many sessions on Dask distributed: one task per session, a manifest, a progress bar.

:func:`batch` expands its sources (files, folders, URLs, DANDI assets) into
sessions, and runs :func:`nwb_cascade.infer` for each one as a Dask task, on a
local cluster or on any running Dask scheduler.  Each task opens its file itself
(HDF5 handles cannot travel between processes), so the client only ever sends
strings and receives a small dict per session.  The manifest
(:mod:`nwb_cascade.manifest`) is rewritten as each result comes in: a rerun skips
what is done and retries what failed or never finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import shlex
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from .common.errors import NWBCascadeError
from .common.files import partial_files
from .common.names import shortened
from .dandi_layout import organized
from .manifest import DONE, FAILED, PENDING, RESULT_FIELDS, SKIPPED, Manifest, ManifestError, ManifestRow
from .options import RunOptions, settings_of, with_overrides

if TYPE_CHECKING:
    from distributed import Client, Future

    from .spike_inference import RunSummary

log = logging.getLogger(__name__)

GPU = "GPU"  # the Dask resource name GPU workers declare (``dask worker --resources GPU=1``)
POLL_SECONDS = 0.25
# Dask starts its workers with MALLOC_TRIM_THRESHOLD_ set, which turns glibc's dynamic mmap threshold
# off: every large array is then mapped and unmapped afresh, and the page faults cost a session about
# 40 % more CPU time (benchmarks/batch.py).  Local clusters of a batch start their workers without it.
KEEP_MALLOC_DEFAULTS = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
#: Tries to start a local cluster (a worker may die while it starts), and the wait before the second (s; then more).
CLUSTER_TRIES = 3
CLUSTER_BACKOFF = 2.0


class BatchError(NWBCascadeError, ValueError):
    """A batch cannot start as asked (no sources, clashing outputs, unreachable scheduler...)."""


@dataclass
class BatchSummary:
    """What a batch did, and where its manifest is.

    ``rows`` are the manifest rows of this batch's sources, in the order given;
    ``ran`` sessions were run this time, ``done_before`` were done (or skipped) before.
    """

    manifest: Path
    rows: list[ManifestRow]
    ran: int
    done_before: int
    seconds: float
    workers: int
    dashboard: str | None
    passed_over: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def done(self) -> list[ManifestRow]:
        return [row for row in self.rows if row.status == DONE]

    @property
    def failed(self) -> list[ManifestRow]:
        return [row for row in self.rows if row.status == FAILED]

    @property
    def pending(self) -> list[ManifestRow]:
        return [row for row in self.rows if row.status == PENDING]

    @property
    def skipped(self) -> list[ManifestRow]:
        """Sources with no calcium traces (raw movies, behaviour-only files): nothing to run."""
        return [row for row in self.rows if row.status == SKIPPED]

    def table(self) -> str:
        """A plain-text summary: sessions per status, the work done, and each failure with its error."""
        done = self.done
        rate = 60 * self.ran / self.seconds if self.ran and self.seconds > 0 else float("nan")
        lines = [
            "| status | sessions |",
            "|---|---|",
            f"| done | {len(done)} |",
            f"| skipped (no calcium traces) | {len(self.skipped)} |",
            f"| failed | {len(self.failed)} |",
            f"| pending | {len(self.pending)} |",
            f"({self.done_before} finished before this run)",
            "",
            f"{self.ran} session(s) run in {self.seconds:.1f} s on {self.workers} worker(s)"
            + (f" ({rate:.2f} sessions/min)" if self.ran else "")
            + f"; {sum(row.rois or 0 for row in done)} ROIs, {sum(row.frames or 0 for row in done)} frames done in all",
            f"manifest: {self.manifest}",
        ]
        lines += [f"not taken as a source: {path}: {reason}" for path, reason in self.passed_over.items()]
        lines += [f"skipped: {row.source}: {row.error}" for row in self.skipped]
        lines += [f"failed: {row.source}: {row.error}" for row in self.failed]
        return "\n".join(lines)


def batch(
    sources: Sequence[str | Path],
    output: str | Path,
    *,
    glob: str | None = None,
    scheduler: str | Client | None = None,
    workers: int | None = None,
    progress: bool = True,
    dandi_layout: bool = False,
    checksum: bool = False,
    overwrite: bool = False,
    options: RunOptions | None = None,
    **overrides: Any,
) -> BatchSummary:
    """Infer spikes for every session in ``sources`` on a Dask cluster; one output file per session in ``output``.

    Each session is one task, which streams or opens its source, runs the engine and
    writes a standalone NWB file (:func:`nwb_cascade.infer`) under a temporary name,
    renamed when complete.  ``output/manifest.csv`` gets one row per source (status,
    output, ROIs, frames, noise levels, model, settings, duration, error), rewritten as each
    result comes in.  A failing session is recorded and never stops the others; a
    rerun into the same folder skips what is done and runs the rest again.

    In a script, call it under ``if __name__ == "__main__":``: the local cluster's workers are new
    processes that import the script again.

    Parameters
    ----------
    sources
        Local NWB files, folders (their ``*.nwb`` files, recursively), ``https://`` URLs,
        or dandisets (``DANDI:000728``, optionally ``@version``).
    output
        The output folder (made if absent); it holds the outputs, the manifest and ``logs/``.
    glob
        Only the files whose path in their dandiset (asset path) or folder (relative
        path) matches this pattern (fnmatch).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``), or a connected
        :class:`distributed.Client`; default: a local cluster started for this batch.
    workers
        Worker processes of the local cluster (one thread each); default: one per core.
    progress
        Show a progress bar (sessions done / failed / running) and the dashboard address.
    dandi_layout
        Lay the done outputs out as a derived dandiset once the batch has run (:mod:`nwb_cascade.dandi_layout`).
    checksum
        Also record the SHA-256 of each local source, and tell a changed source by it rather than by
        its modification time (reads every source whole on each rerun).
    overwrite
        Run the sessions already done again (with these options), replacing their outputs.  Without it,
        done sessions are kept, and those done with other settings are named in a warning.
    options, overrides
        How every session infers (:class:`~nwb_cascade.options.RunOptions`, or its fields as keywords);
        a model folder must be visible to every worker; ``device`` defaults to ``"cuda"`` where workers
        declare the Dask resource ``GPU`` (one task per GPU), else each worker's own default; sessions
        run without progress bars (the batch has one).

    Returns
    -------
    BatchSummary

    Raises
    ------
    BatchError
        Nothing to run on, two sources that would write the same output, an output that would
        replace a source or a file this batch did not write, a manifest that does not match its
        outputs or is damaged, a scheduler that cannot be reached or a local cluster that does not
        start, or an output folder another batch holds.
    """
    options = with_overrides(options, RunOptions, overrides)
    if scheduler is None:
        _check_main_guard()
    out = output
    start = time.perf_counter()
    if scheduler is not None and workers is not None:
        raise BatchError("give either a scheduler address or a number of local workers, not both: "
                         "a running cluster decides its own workers")
    if workers is not None and workers < 1:
        raise BatchError(f"workers must be at least 1, got {workers}")
    out = Path(out)
    found = Found()
    sessions = plan_outputs(expand(sources, glob, found), out)
    options = dataclasses.replace(options, model=_model_for_workers(options.model), progress=False)
    try:
        manifest = Manifest(out)
        with manifest.locked(), organized(manifest, dandi_layout):
            check_outputs(manifest, sessions, found.identities)
            todo = _sessions_to_run(manifest, sessions, out, found.identities, checksum, overwrite)
            _warn_other_settings(manifest, sessions, todo, settings_of(options))
            finished = len(sessions) - len(todo)
            todo = _skip_without_traces(manifest, todo, found.without_traces)
            manifest.save()
            if not todo:
                log.info("%s: all %d session(s) are done already; nothing to run", out, len(sessions))
                return BatchSummary(manifest.path, [manifest.rows[source] for source in sessions], 0, finished,
                                    time.perf_counter() - start, 0, None, found.passed_over)
            if finished:
                log.info("%d of %d session(s) are done already; running the other %d", finished, len(sessions),
                         len(todo))
            for source in todo:
                _remove_partials(sessions[source])
            with connect(scheduler, workers) as client:
                dashboard = dashboard_link(client)
                if dashboard:
                    log.info("Dask dashboard: %s", dashboard)
                    if progress:
                        tqdm.write(f"Dask dashboard: {dashboard}", file=sys.stderr)
                n_workers = len(_scheduler_info(client)["workers"])
                futures = submit(client, todo, sessions, options, checksum)
                collect(client, futures, manifest, progress=progress)
    except ManifestError as error:
        raise BatchError(str(error)) from error
    return BatchSummary(manifest.path, [manifest.rows[source] for source in sessions], len(todo), finished,
                        time.perf_counter() - start, n_workers, dashboard, found.passed_over)


@dataclass
class Found:
    """What expanding the sources learnt besides the sessions: DANDI assets whose metadata says they hold no
    calcium traces (with why), what was passed over (with why), and the identities the listings gave."""

    without_traces: dict[str, str] = dataclasses.field(default_factory=dict)
    passed_over: dict[str, str] = dataclasses.field(default_factory=dict)
    identities: dict[str, str] = dataclasses.field(default_factory=dict)


def expand(sources: Sequence[str | Path], glob: str | None = None, found: Found | None = None) -> list[str]:
    """The sessions of ``sources``, each once, local paths made absolute (they name manifest rows); ``found``
    gets what else was learnt (:class:`Found`)."""
    from .nwb.sources import SourceError, expand_sources

    found = found if found is not None else Found()
    try:
        expanded = expand_sources([str(source) for source in sources], glob=glob, without_traces=found.without_traces,
                                  passed_over=found.passed_over, identities=found.identities)
    except SourceError as error:  # e.g. the DANDI API cannot be reached: nothing can be planned
        raise BatchError(str(error)) from error
    sessions = list(dict.fromkeys(_absolute(source) for source in expanded))
    found.identities.update({_absolute(source): identity for source, identity in found.identities.items()})
    if not sessions:
        passed = "".join(f"; not taken: {path} ({reason})" for path, reason in list(found.passed_over.items())[:3])
        raise BatchError(f"no NWB files in {', '.join(map(str, sources))}"
                         + (f" matching {glob!r}" if glob else "") + "; check the paths (and the glob)" + passed)
    return sessions


def plan_outputs(sessions: Sequence[str], out: Path) -> dict[str, Path]:
    """The output file of each session in ``out``; two sessions that would share one are an error."""
    from .nwb.target import default_output

    outputs: dict[str, Path] = {}
    owners: dict[Path, str] = {}
    for source in sessions:
        target = default_output(source, folder=out)
        if target in owners:
            raise BatchError(f"{owners[target]} and {source} would both write {target}; "
                             "run them into separate output folders (or rename one of the files)")
        owners[target] = source
        outputs[source] = target
    return outputs


def _absolute(source: str) -> str:
    from .nwb.sources import is_local

    return str(Path(source).resolve()) if is_local(source) else source


def _model_for_workers(model: str | Path | None) -> str | None:
    """Check a model here before any task needs it, and fill the cache once rather than once per worker."""
    if model is None:
        return None
    from .cascade import load_model

    load_model(model)
    folder = Path(model).expanduser()
    return str(folder.resolve()) if folder.is_dir() else str(model)  # workers may run elsewhere


def check_outputs(manifest: Manifest, sessions: dict[str, Path], identities: dict[str, str]) -> None:
    """Refuse, before any work, to write where this batch must not: onto a source of the batch, or onto any
    file that is not this batch's own output for that session; and a manifest whose outputs are not the files
    it recorded (renamed, swapped, replaced).

    A file is this batch's own output for a session when the manifest recorded it (same NWB identifier),
    or, with no such record, when the results it holds say they were computed from that session.
    """
    by_file: dict[tuple[int, int], str] = {}
    for source in sessions:
        with contextlib.suppress(OSError):
            info = os.stat(source)
            by_file[(info.st_dev, info.st_ino)] = source
    problems = []
    for source, target in sessions.items():
        try:
            info = os.stat(target)
        except OSError:
            info = None
        if info is not None and (info.st_dev, info.st_ino) in by_file:
            problems.append(
                f"the results of {source} would be written to {target}, which is a source of this batch "
                f"({by_file[(info.st_dev, info.st_ino)]}); rename that source (e.g. mv {_quoted(target)} "
                f"{_quoted(_free_name(target, '_session'))}) or write the results into another folder (--out)")
            continue
        row = manifest.rows.get(source)
        if row is not None and row.status == DONE and row.output and (manifest.folder / row.output).exists():
            recorded = manifest.folder / row.output
            problem = _not_as_recorded(manifest, row, recorded, sessions, identities)
            if problem is not None:
                problems.append(problem)
                continue
            if recorded == target:
                continue
        if info is not None or target.is_symlink():
            if not _own_output(target, source, identities):
                problems.append(
                    f"{target} exists and this batch did not write it for {source} ({_what_it_is(target)}); "
                    f"move it away (e.g. mv {_quoted(target)} {_quoted(_free_name(target, '_before'))}) or write "
                    "the results into another folder (--out); a batch never writes over a file it did not create")
    if problems:
        more = f" (and {len(problems) - 1} more such problem(s))" if len(problems) > 1 else ""
        raise BatchError(problems[0] + more)


def _not_as_recorded(manifest: Manifest, row: ManifestRow, recorded: Path, sessions: dict[str, Path],
                     identities: dict[str, str]) -> str | None:
    """Why the output ``recorded`` is not the file the manifest recorded for ``row``, or None when it is."""
    from .nwb.origin import file_identifier, results_origin

    wanted = dict(word.partition("=")[::2] for word in row.output_id.split()).get("identifier")
    if wanted is not None and file_identifier(recorded) == wanted:
        return None
    if wanted is None and _own_output(recorded, row.source, identities):
        return None  # a row of an older version, which recorded no output identity: the results' origin decides
    origin = results_origin(recorded)
    holder = next((other for other in sessions if other != row.source and origin is not None
                   and _made_from(origin, other, identities)), None)
    found = (f"that file holds the results of {holder}: the outputs were renamed or swapped; rename them back, "
             "or delete them to run their sessions again" if holder else
             f"that file is not the one this batch wrote ({_what_it_is(recorded)}); put the output back, or delete "
             "it to run the session again")
    return (f"{manifest.path} does not match its outputs: it records {recorded} as the output of {row.source}, "
            f"but {found}; or move the manifest aside (mv {_quoted(manifest.path)} "
            f"{_quoted(manifest.path.with_name(manifest.path.name + '.old'))}) and outputs that are complete are "
            "recognised by their content")


def _own_output(path: Path, source: str, identities: dict[str, str]) -> bool:
    """Whether ``path`` holds complete results that were computed from ``source`` (written by a run of it)."""
    from .nwb.origin import results_origin

    origin = results_origin(path)
    return origin is not None and origin.derived and _made_from(origin, source, identities) and _complete_output(path)


def _made_from(origin: Any, source: str, identities: dict[str, str]) -> bool:
    """Whether results of ``origin`` (:class:`~nwb_cascade.nwb.origin.Origin`) were computed from ``source``."""
    from .nwb.sources import is_dandi, is_local

    if is_local(source):
        return origin.source_url == str(Path(source).resolve())
    asset = dict(word.partition("=")[::2] for word in identities.get(source, "").split()).get("asset")
    if asset is None and origin.asset_id and is_dandi(source):
        asset = _asset_of(source)
    if asset and origin.asset_id:
        return origin.asset_id == asset
    return origin.source_url == source


def _asset_of(source: str) -> str | None:
    """The asset id a DANDI reference names now (an API call); None when it cannot be told."""
    from .nwb.sources import resolve

    try:
        return resolve(source).asset_id
    except Exception as error:
        log.warning("%s: cannot look it up (%s)", source, error)
        return None


def _what_it_is(path: Path) -> str:
    """What a file in the way of an output is, in a few words."""
    from .nwb.origin import file_identifier, results_origin

    origin = results_origin(path)
    if origin is not None and origin.derived:
        return f"it holds the results of {origin.source_url or 'another file'}"
    if origin is not None:
        return "an NWB file with results added in place"
    if file_identifier(path) is not None:
        return "an NWB file"
    return "not an NWB file written by nwb-cascade"


def _free_name(path: Path, tag: str) -> Path:
    """A name beside ``path`` that is free: ``<stem><tag><suffix>``, numbered when taken."""
    for number in range(1, 1000):
        name = shortened(path.stem, f"{tag}{number if number > 1 else ''}{path.suffix}")
        if not path.with_name(name).exists():
            return path.with_name(name)
    return path.with_name(shortened(path.stem, f"{tag}-{uuid.uuid4().hex[:8]}{path.suffix}"))


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


def _current_identity(source: str, identities: dict[str, str], checksum: bool) -> str | None:
    """The identity of ``source`` now (:func:`~nwb_cascade.nwb.sources.identify`); None when it cannot be told."""
    from .nwb.sources import identify, is_local, resolve

    if source in identities and not is_local(source):
        return identities[source]
    try:
        return identify(resolve(source), checksum=checksum)
    except FileNotFoundError:
        return None  # the source has gone: its results stay
    except Exception as error:  # the network: keep what is done rather than redo blindly
        log.warning("%s: cannot tell whether it changed since it was done (%s); its results are kept", source, error)
        return None


def _warn_other_settings(manifest: Manifest, sessions: dict[str, Path], todo: list[str], settings: str) -> None:
    """Name the sessions kept from earlier runs with other settings (a batch folder then mixes settings)."""
    other = [source for source in sessions if source not in todo and manifest.rows[source].status == DONE
             and manifest.rows[source].settings != settings]
    if other:
        shown = ", ".join(sorted({manifest.rows[source].settings or "{} (the defaults)" for source in other}))
        log.warning("%d session(s) done before were run with other settings (%s) than now (%s); they are kept, "
                    "recorded per row in the manifest's settings column: pass overwrite=True (--overwrite) to run them "
                    "again with these", len(other), shown, settings or "{} (the defaults)")


def _sessions_to_run(manifest: Manifest, sessions: dict[str, Path], out: Path, identities: dict[str, str] | None = None,
                     checksum: bool = False, overwrite: bool = False) -> list[str]:
    """Rows for new sessions; the sessions not done, done but whose output has gone, or whose source changed since;
    with ``overwrite`` also those done.

    A source with no row whose output is already there, complete (a lost or emptied manifest), is
    recorded as done, not run again (:func:`check_outputs` has made sure it is that source's output).
    """
    from .nwb.sources import same_version

    identities = identities or {}
    todo = []
    for source, target in sessions.items():
        known = source in manifest.rows
        row = manifest.row(source)
        if overwrite and row.status == DONE:
            log.info("%s: done before, run again (overwrite)", source)
        elif row.status == SKIPPED or row.status == DONE and (out / row.output).is_file():
            current = _current_identity(source, identities, checksum)
            if current is None or same_version(row.source_id, current):
                row.source_id = _merged(row.source_id, current or "")  # e.g. a checksum taken for the first time
                continue
            log.warning("%s has changed since it was run (%s; now %s): running it again", source, row.source_id,
                        current)
        elif row.status == DONE:
            log.warning("%s: the manifest says done but %s is missing; running it again", source, out / row.output)
        elif not known and _complete_output(target):
            log.warning("%s: no manifest row says it is done, but %s is complete; recorded as done (delete it to run "
                        "the session again)", source, target)
            row.update({"status": DONE, "output": target.name, "finished": _now(),
                        "error": "recovered: the output was complete, the manifest had no row for it",
                        "output_id": _output_identity(target)})
            continue
        manifest.rows[source] = ManifestRow(source)  # forget the last attempt's results and error
        todo.append(source)
    return todo


def _merged(recorded: str, current: str) -> str:
    """Two identities of one version, as one: the words of both (the current one's where both have a word)."""
    words = dict(word.partition("=")[::2] for word in recorded.split())
    words.update(word.partition("=")[::2] for word in current.split())
    return " ".join(f"{key}={value}" for key, value in words.items())


def _output_identity(path: Path) -> str:
    """What the manifest records of an output: its NWB identifier (new for every file written) and size."""
    from .nwb.origin import file_identifier

    identifier = file_identifier(path)
    return f"identifier={identifier} size={path.stat().st_size}" if identifier else ""


def _complete_output(path: Path) -> bool:
    """Whether ``path`` is a whole results file: it opens, and every results container has its spike rates."""
    if not path.is_file():
        return False
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            module = handle.get("processing/cascade")
            return module is not None and len(module) > 0 and all("spike_rates" in group for group in module.values())
    except OSError:
        return False


def _skip_without_traces(manifest: Manifest, todo: list[str], reasons: dict[str, str]) -> list[str]:
    """Record the sources known (from their DANDI metadata) to hold no calcium traces as skipped; the rest."""
    left = []
    for source in todo:
        if source in reasons:
            manifest.rows[source].update({"status": SKIPPED, "error": reasons[source], "finished": _now()})
            log.info("%s: skipped, %s", source, reasons[source])
        else:
            left.append(source)
    return left


def _remove_partials(target: Path) -> None:
    """Temporary files a killed task left behind for this output."""
    for partial in partial_files(target):
        log.info("removing %s, left by an interrupted run", partial)
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def connect(scheduler: str | Client | None, workers: int | None) -> Iterator[Client]:
    """A client of the given scheduler, or of a local cluster (one thread per worker) started and stopped here."""
    import dask
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler} ({error}); check the address "
                             "(e.g. tcp://host:8786) and that the scheduler is running") from error
        with client:
            yield client
        return
    n_workers = workers or default_workers()
    for attempt in range(1, CLUSTER_TRIES + 1):
        log.info("starting a local Dask cluster: %d worker process(es), one thread each", n_workers)
        try:
            with dask.config.set({KEEP_MALLOC_DEFAULTS: None}):
                # the workers' own log lines only where this process shows the library's (-vv on the command line)
                quiet = max(logging.WARNING, logging.getLogger("distributed").getEffectiveLevel())
                with _workers_ignore_ctrl_c():
                    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                           silence_logs=quiet,
                                           dashboard_address=":0")  # any free port: no warning when 8787 is taken
        except Exception as error:  # a worker that died while starting: "Nanny failed to start", a timeout...
            message = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
            if attempt == CLUSTER_TRIES:
                raise BatchError(
                    f"the local Dask cluster did not start in {CLUSTER_TRIES} tries ({message}); nothing was run and "
                    "the manifest is as it was: check free memory and the processes running, give fewer --workers, "
                    "or start a cluster yourself and pass its scheduler (--scheduler)") from error
            log.warning("the local Dask cluster did not start (%s); trying again in %.0f s", message,
                        CLUSTER_BACKOFF * attempt)
            time.sleep(CLUSTER_BACKOFF * attempt)
            continue
        with cluster, Client(cluster) as client:
            yield client
        return


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (a disposition that new processes inherit, and Python keeps).

    Ctrl-C in a terminal reaches every process of its group: this one stops the batch (the manifest keeps the
    unfinished sessions pending) and closes the cluster, whose workers would otherwise each print a traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_main_guard() -> None:
    """Refuse, at once, a local batch started from a script's top level without ``if __name__ == "__main__":``.

    The local cluster's workers are new processes that import the script again: unguarded, each one would
    start its own batch (and find the manifest locked) and the cluster would never start.
    """
    import ast
    import inspect

    frame = inspect.currentframe()
    outer = None
    while frame is not None:  # the outermost frame of the script's own module-level code
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") in ("__main__", "__mp_main__"):
            outer = frame
        frame = frame.f_back
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if outer is None or not script or outer.f_code.co_filename != script:
        return
    if outer.f_globals.get("__name__") == "__mp_main__":  # a worker importing the script: stop it quietly
        raise SystemExit("nwb_cascade.batch() was started again by a worker process importing the script: put the "
                         'call under `if __name__ == "__main__":`')
    try:
        tree = ast.parse(Path(script).read_text())
    except (OSError, SyntaxError, ValueError):
        return
    line = outer.f_lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) and "__name__" in ast.unparse(node.test) \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            return
    raise BatchError(f"{script}, line {line}: a batch on a local cluster must be started under "
                     '`if __name__ == "__main__":` (its workers are new processes that import the script again, '
                     "and would each start the batch anew); or pass the address of a running scheduler")


def default_workers() -> int:
    """One local worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's address, where the scheduler serves one.

    The dashboard's pages need bokeh: a local cluster without it serves only a page
    saying so, which is not worth announcing.
    """
    from distributed import LocalCluster

    if "dashboard" not in _scheduler_info(client).get("services", {}):
        return None
    if isinstance(client.cluster, LocalCluster) and importlib.util.find_spec("bokeh") is None:
        return None
    return client.dashboard_link


def _scheduler_info(client: Client) -> dict[str, Any]:
    """The scheduler's description with every worker (newer distributed lists only a few unless asked)."""
    try:
        return client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025, which always lists every worker
        return client.scheduler_info()


def gpu_workers(client: Client) -> int:
    """How many workers declare the Dask resource ``GPU``."""
    found = _scheduler_info(client)["workers"].values()
    return sum(1 for worker in found if worker.get("resources", {}).get(GPU, 0) > 0)


def submit(client: Client, todo: Sequence[str], sessions: dict[str, Path], options: RunOptions,
           checksum: bool = False) -> dict[Future, str]:
    """One task per session; on GPU workers one task per GPU, run with ``device="cuda"``."""
    resources = None
    if gpu_workers(client):
        resources = {GPU: 1}
        options = dataclasses.replace(options, device=options.device or "cuda")
        log.info("the cluster has GPU workers: one session per GPU, on %s", options.device)
    run = uuid.uuid4().hex[:8]
    futures = {}
    for index, source in enumerate(todo):
        future = client.submit(run_session, source, str(sessions[source]), options, checksum,
                               key=f"cascade-{run}-{index}", pure=False, resources=resources)
        futures[future] = source
    return futures


def collect(client: Client, futures: dict[Future, str], manifest: Manifest, *, progress: bool) -> None:
    """Record each result in the manifest as it comes in, with a progress bar; Ctrl-C cancels what is left."""
    from distributed import as_completed

    keys = {future.key for future in futures}
    results = as_completed(futures)
    counts = {DONE: 0, FAILED: 0, SKIPPED: 0}
    next_refresh = 0.0
    unsaved: list[ManifestError] = []
    recorded: set[Future] = set()

    def record(future: Future) -> None:
        recorded.add(future)
        row = manifest.rows[futures[future]]
        outcome = _outcome(future)
        error, details = outcome.pop("error", ""), outcome.pop("details", "")
        row.update(outcome)
        manifest.set_error(row, error, details)
        _save(manifest, unsaved)
        if row.status == DONE:  # what a task on a worker that died had begun for it
            _remove_partials(manifest.folder / row.output)
        counts[row.status] += 1
        if row.status == FAILED:
            log.warning("%s failed: %s", row.source, row.error)

    with tqdm(total=len(futures), unit="session", desc="batch", disable=not progress) as bar:
        try:
            while not results.is_empty():
                for future in results.next_batch(block=False) if results.has_ready() else []:
                    record(future)
                    bar.update(1)
                    next_refresh = 0.0
                if time.monotonic() >= next_refresh:
                    running = _running(client, keys)
                    bar.set_postfix(done=counts[DONE], skipped=counts[SKIPPED], failed=counts[FAILED],
                                    running=running, refresh=True)
                    next_refresh = time.monotonic() + 1.0
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            for future in futures:  # sessions that finished while this loop slept: their outputs are complete
                if future not in recorded and future.status == "finished":
                    with contextlib.suppress(Exception):
                        record(future)
            unfinished = [future for future in futures if not future.done()]
            log.warning("interrupted: %d session(s) finished, %d left pending in %s; run again to continue",
                        sum(counts.values()), len(unfinished), manifest.path)
            client.cancel(unfinished)
            raise
    if unsaved:
        manifest.save()  # once more now that the batch is over; ManifestError (one line) when it still fails


def _save(manifest: Manifest, unsaved: list[ManifestError]) -> None:
    """Save the manifest; when that fails (a full disk), say so once and go on: the next result tries again, and
    the end of the batch once more (a rerun recognises the outputs written meanwhile)."""
    try:
        manifest.save()
    except ManifestError as error:
        if not unsaved:
            log.warning("%s; the batch goes on and tries again with the next result", error)
        unsaved[:] = [error]
    else:
        unsaved.clear()


def _running(client: Client, keys: set[str]) -> int:
    """How many of ``keys`` workers are running now (a worker also holds tasks queued behind its threads)."""
    try:
        threads = client.nthreads()
        return sum(min(len(keys.intersection(tasks)), threads.get(worker, 1))
                   for worker, tasks in client.processing().items())
    except (OSError, TimeoutError):  # the scheduler is busy or restarting a worker; try again next time
        return 0


def _outcome(future: Future) -> dict[str, Any]:
    """The manifest fields for a finished future: the task's own dict, or why the task itself was lost."""
    if future.status == "finished":
        return future.result()
    if future.cancelled():
        return {"status": FAILED, "error": "cancelled on the cluster before it finished", "finished": _now()}
    error = future.exception()
    message = f"{type(error).__name__}: {error}"
    if type(error).__name__ == "KilledWorker":
        message = (f"every worker that ran this session died ({error}); the session may need more memory "
                   "than a worker has")
    return {"status": FAILED, "error": message, "finished": _now()}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_session(source: str, output: str, options: RunOptions, checksum: bool = False) -> dict[str, Any]:
    """The task: run one session on a worker and return its manifest fields (an error becomes a failed row, its
    traceback in ``details`` for the session's log file).

    The output is written with ``overwrite=True``: :func:`check_outputs` has made sure that a file
    there is this batch's own output for the session (a file a cancelled task finished is simply
    written again).  The source's identity is taken before it is read: a source changed during the
    run is run again by the next batch.
    """
    import torch

    from .nwb.read import NoTracesError
    from .nwb.sources import identify, resolve
    from .spike_inference import infer

    # one CPU thread per task: Dask runs one task per worker thread, and workers are sized to the cores
    torch.set_num_threads(1)
    worker = _worker_address()
    start = time.perf_counter()
    source_id = ""
    try:
        resolved = resolve(source)
        source_id = identify(resolved, checksum=checksum)
        summary = infer(resolved, output, overwrite=True, options=options)
    except NoTracesError as error:  # a raw movie, a behaviour-only file: nothing to do, not a failure
        return {"status": SKIPPED, "error": str(error), "worker": worker, "seconds": time.perf_counter() - start,
                "finished": _now(), "source_id": source_id}
    except Exception as error:  # one failing session must never stop the others: it becomes a row
        log.info("%s failed", source, exc_info=True)  # the traceback, for the worker's log
        return {"status": FAILED, "error": f"{type(error).__name__}: {error}", "details": traceback.format_exc(),
                "worker": worker, "seconds": time.perf_counter() - start, "finished": _now(), "source_id": source_id}
    return {**manifest_values(summary), "status": DONE, "seconds": time.perf_counter() - start, "worker": worker,
            "finished": _now(), "error": "", "source_id": source_id, "output_id": _output_identity(Path(output)),
            "settings": settings_of(options)}


def manifest_values(summary: RunSummary) -> dict[str, Any]:
    """The manifest's result columns (:data:`~nwb_cascade.manifest.RESULT_FIELDS`) of a finished run, from its
    :class:`~nwb_cascade.spike_inference.RunSummary` (``output`` as a file name)."""
    values = {name: getattr(summary, name) for name in RESULT_FIELDS}
    values["output"] = Path(summary.output).name
    return values


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:  # called outside a worker (e.g. directly, in tests)
        return ""

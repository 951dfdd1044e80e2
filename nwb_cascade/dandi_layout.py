"""A batch's outputs as a derived dandiset: named as ``dandi organize`` names files, with a ``dandiset.yaml`` draft.

With ``batch(..., dandi_layout=True)`` (``nwb-cascade batch --dandi-layout``) the outputs of the sessions that
are done are moved, once the batch has run, to the paths ``dandi organize`` would give them, and the
manifest's ``output`` column follows them; ``dandiset.yaml`` (a draft naming the source dandisets and
versions and this package's version) makes the folder a dandiset that ``dandi validate`` checks and
``dandi upload`` uploads.

The names follow the rules of ``dandi.organize`` (dandi-cli), applied to the set of outputs organised
together, as ``dandi organize`` applies them to the files it is given:

- ``sub-<subject_id>/sub-<subject_id>[_ses-<session_id>][_obj-<id>][_<modalities>].nwb``, where every value
  has each of ``_ * \\ / < > : | " ' ? % @ ; ,``, white space and ``.`` replaced by ``-``;
- ``ses-`` appears when the outputs hold more than one distinct session id (a missing one counting as one
  value); a file without a ``session_id`` gets its session start time (``YYYYMMDDTHHMMSS``, or the date
  alone when every start time is at midnight) when some file lacks one;
- the modalities are the pynwb modules (``ophys``, ``behavior``, ``image``...) of the neurodata types of the
  file's groups, less ``base``, ``device``, ``file`` and ``misc``, sorted and joined by ``+``;
- files that would still share a path get ``_obj-`` and the CRC-32 (base 36) of their ``object_id``.

DANDI needs each file's subject to state ``subject_id``, ``species``, ``sex`` and ``age`` (or
``date_of_birth``), in the forms nwbinspector's DANDI configuration checks (critical there); the outputs
copy the source's subject, so an output whose source lacks one is left where it is, with a warning that
says what is missing: it cannot be published until its source states it.
"""

from __future__ import annotations

import binascii
import contextlib
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .common.errors import NWBCascadeError
from .common.files import atomic_write
from .common.version import __version__
from .manifest import DONE, Manifest

log = logging.getLogger(__name__)

DANDISET_FILE = "dandiset.yaml"
#: The first line of the dandiset.yaml drafts this package writes (any other dandiset.yaml is left alone).
DRAFT_MARKER = "# Draft dandiset metadata written by nwb-cascade"
PLACEHOLDER = "PLACEHOLDER"  # dandi validate warns about this value (and dandi upload refuses it)
#: Modalities dandi organize leaves out of names.
GENERIC_MODALITIES = ("base", "device", "file", "misc")
_UNSAFE = re.compile(r"[_*\\/<>:|\"'?%@;,\s]")


class DandiLayoutError(NWBCascadeError, ValueError):
    """The outputs cannot be laid out as a dandiset (a path taken by a file this batch did not write...)."""


@dataclass
class OutputFacts:
    """What an output file says that its DANDI name and its publication depend on."""

    path: Path
    subject_id: str | None
    session_id: str | None
    session_start_time: datetime | None
    modalities: tuple[str, ...]
    object_id: str | None
    source_identifier: str | None
    sources: list[tuple[str, str | None]] = field(default_factory=list)  # (dandiset id, version) of its sources
    problems: list[str] = field(default_factory=list)  # why DANDI would refuse it


def sanitize(value: str) -> str:
    """A value as dandi organize puts it into a name: its separators and dots replaced by ``-``."""
    return _UNSAFE.sub("-", str(value)).replace(".", "-")


def _modality_map() -> dict[str, str]:
    """The pynwb module (``ophys``, ``base``...) of each neurodata type pynwb defines."""
    import inspect

    import pynwb

    found: dict[str, str] = {}
    for module in vars(pynwb).values():
        if not inspect.ismodule(module) or not module.__name__.startswith("pynwb."):
            continue
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, pynwb.core.NWBMixin):
                parts = value.__module__.split(".")
                if len(parts) == 2:
                    found.setdefault(value.__name__, parts[1])
    return found


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else None
        return _text(value)
    text = None if value is None else str(value).strip()
    return text or None


def output_facts(path: str | Path, modalities: dict[str, str] | None = None) -> OutputFacts:
    """Read an output's subject, session, modalities, object id and sources (h5py; a few small datasets)."""
    import h5py

    path = Path(path)
    modalities = modalities if modalities is not None else _modality_map()
    with h5py.File(path, "r") as handle:
        def value(name: str) -> str | None:
            found = handle.get(name)
            return _text(found[()]) if isinstance(found, h5py.Dataset) else None

        types: set[str] = set()

        def visit(_: str, item: Any) -> None:
            if isinstance(item, h5py.Group) and "neurodata_type" in item.attrs:
                types.add(_text(item.attrs["neurodata_type"]) or "")

        handle.visititems(visit)
        start = value("session_start_time")
        sources: list[tuple[str, str | None]] = []
        source_identifier = None
        module = handle.get("processing/cascade")
        for group in (module.values() if isinstance(module, h5py.Group) else []):
            if isinstance(group, h5py.Group) and group.attrs.get("dandiset_id") is not None:
                sources.append((_text(group.attrs["dandiset_id"]) or "", _text(group.attrs.get("dandiset_version"))))
            if isinstance(group, h5py.Group) and source_identifier is None:
                source_identifier = _text(group.attrs.get("source_identifier"))
        subject = {name: value(f"general/subject/{name}") for name in
                   ("subject_id", "species", "sex", "age", "date_of_birth")} if "general/subject" in handle else None
        facts = OutputFacts(
            path=path,
            subject_id=subject.get("subject_id") if subject else None,
            session_id=value("general/session_id"),
            session_start_time=_datetime(start),
            modalities=tuple(sorted({modalities[kind] for kind in types if kind in modalities}
                                    - set(GENERIC_MODALITIES))),
            object_id=_text(handle.attrs.get("object_id")),
            source_identifier=source_identifier,
            sources=list(dict.fromkeys(sources)),
        )
    facts.problems = publication_problems(subject, facts.session_id)
    return facts


def _datetime(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def publication_problems(subject: dict[str, str | None] | None, session_id: str | None) -> list[str]:
    """Why DANDI would refuse a file with this subject and session id: the checks nwbinspector's DANDI
    configuration makes critical (subject id, species, sex, age; no slashes in the ids)."""
    from nwbinspector import checks as inspector_checks
    from nwbinspector import load_config
    from pynwb.file import Subject

    problems = []
    if session_id and "/" in session_id:
        problems.append(f"its session_id {session_id!r} holds a slash")
    if subject is None:
        return [*problems, "it has no subject (DANDI needs subject_id, species, sex and age or date_of_birth)"]
    fields = {key: text for key, text in subject.items() if text is not None}
    if "date_of_birth" in fields:
        birth = _datetime(fields["date_of_birth"])
        if birth is None:
            problems.append(f"its subject's date_of_birth {fields['date_of_birth']!r} is not an ISO 8601 date")
            del fields["date_of_birth"]
        else:
            fields["date_of_birth"] = birth
    made = Subject(**fields)
    for name in load_config("dandi")["CRITICAL"]:
        if name.startswith("check_subject_") and name != "check_subject_exists":
            message = getattr(inspector_checks, name)(made)
            if message is not None:
                problems.append(f"subject: {message.message}")
    return problems


def dandi_paths(facts: list[OutputFacts]) -> dict[Path, str]:
    """The path (relative to the dandiset, ``/``-separated) dandi organize gives each of ``facts``' files,
    organised together.

    Raises
    ------
    DandiLayoutError
        For a file without a subject id, or files that even their object ids cannot tell apart.
    """
    records = []
    for fact in facts:
        if not fact.subject_id:
            raise DandiLayoutError(f"{fact.path} states no subject_id: dandi organize cannot name it")
        records.append({"fact": fact, "subject_id": sanitize(fact.subject_id),
                        "session_id": sanitize(fact.session_id) if fact.session_id else None,
                        "modalities": fact.modalities, "obj_id": None, "with_obj": False})
    if not all(record["session_id"] for record in records):
        _sessions_from_start_times(records)
    sessions = {record["session_id"] for record in records}
    with_session = len(sessions) > 1

    def name(record: dict[str, Any]) -> str:
        parts = [f"sub-{record['subject_id']}"]
        if with_session and record["session_id"]:
            parts.append(f"_ses-{record['session_id']}")
        if record["with_obj"] and record["obj_id"]:
            parts.append(f"_obj-{record['obj_id']}")
        if record["modalities"]:
            parts.append("_" + sanitize("+".join(record["modalities"])))
        return f"sub-{record['subject_id']}/{''.join(parts)}.nwb"

    paths = [name(record) for record in records]
    clashing = {path for path in paths if paths.count(path) > 1}
    if clashing:
        for record, path in zip(records, paths):
            if path in clashing:
                if not record["fact"].object_id:
                    raise DandiLayoutError(f"{record['fact'].path} shares the name {path} with another output and "
                                           "has no object_id to tell them apart")
                record["obj_id"] = np.base_repr(binascii.crc32(record["fact"].object_id.encode("ascii")), 36).lower()
                record["with_obj"] = True
        paths = [name(record) for record in records]
        still = sorted({path for path in paths if paths.count(path) > 1})
        if still:
            raise DandiLayoutError(f"{len(still)} name(s) are shared by several outputs even with their object ids "
                                   f"(first: {still[0]}); were the same sessions run twice under different names?")
    return {record["fact"].path: path for record, path in zip(records, paths)}


def _sessions_from_start_times(records: list[dict[str, Any]]) -> None:
    """dandi organize's session ids for files without one: the start date, and the time unless every start
    time of the files is midnight."""
    starts = [record["fact"].session_start_time for record in records if record["fact"].session_start_time]
    midnight = all((start.hour, start.minute, start.second) == (0, 0, 0) for start in starts)
    for record in records:
        start = record["fact"].session_start_time
        if record["session_id"] or start is None:
            continue
        record["session_id"] = f"{start:%Y%m%d}" + ("" if midnight else f"T{start:%H%M%S}")


# ------------------------------------------------------------------------------------------------
# Organising a batch folder


@contextlib.contextmanager
def organized(manifest: Manifest, enabled: bool) -> Iterator[None]:
    """Lay out the manifest's done outputs as a dandiset when the body finishes without an error (the batch
    hook: its body is the batch, under the manifest's lock)."""
    yield
    if enabled:
        organize(manifest)


def organize(manifest: Manifest) -> dict[str, str]:
    """Move the done outputs of ``manifest`` to their DANDI paths (the rows follow, saved after each move) and
    write the ``dandiset.yaml`` draft; the moves made, as {old: new} relative paths.

    Raises
    ------
    DandiLayoutError
        A path already taken by a file that is not an output of the same source.
    """
    folder = manifest.folder
    modalities = _modality_map()
    facts_of: dict[str, OutputFacts] = {}
    for row in manifest.rows.values():
        if row.status == DONE and row.output and (folder / row.output).is_file():
            facts_of[row.source] = output_facts(folder / row.output, modalities)
    held = {source: facts for source, facts in facts_of.items() if facts.problems}
    for source, facts in held.items():
        log.warning("%s is left out of the dandiset layout, DANDI would refuse it: %s. Its source (%s) lacks this; "
                    "add it to the source and run the session again", facts.path.relative_to(folder),
                    "; ".join(facts.problems), source)
    ready = {source: facts for source, facts in facts_of.items() if source not in held}
    targets = dandi_paths(list(ready.values())) if ready else {}
    moves = {source: (manifest.rows[source].output, targets[facts.path]) for source, facts in ready.items()
             if manifest.rows[source].output != targets[facts.path]}
    _check_free(folder, moves, ready)
    # two steps (each output aside under a hidden name, then into place), so that outputs may trade places
    staged = {}
    for source, (old, new) in moves.items():
        aside = Path(new).parent / f".{Path(new).name}.organizing-{os.getpid()}"
        (folder / aside).parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder / old, folder / aside)
        manifest.rows[source].output = aside.as_posix()
        manifest.save()
        staged[source] = aside
    for source, (old, new) in moves.items():
        os.replace(folder / staged[source], folder / new)
        manifest.rows[source].output = new
        manifest.save()
        log.info("%s -> %s", old, new)
        _remove_empty_parents(folder, folder / old)
    write_dandiset_yaml(folder, [facts for facts in facts_of.values()])
    return {old: new for old, new in moves.values()}


def _check_free(folder: Path, moves: dict[str, tuple[str, str]], ready: dict[str, OutputFacts]) -> None:
    """Refuse to move onto a file this batch did not write: a target must be free, or one of the outputs
    being moved away, or an older output of the same source (same source identifier)."""
    leaving = {(folder / old).resolve() for old, _ in moves.values()}
    for source, (_, new) in moves.items():
        target = folder / new
        if not target.exists() or target.resolve() in leaving:
            continue
        try:
            existing = output_facts(target).source_identifier
        except OSError:
            existing = None
        if existing is None or existing != ready[source].source_identifier:
            raise DandiLayoutError(f"{target} exists and is not an output of {source}: move it away (the dandiset "
                                   "layout never writes over a file it did not make) and run the batch again")


def _remove_empty_parents(folder: Path, path: Path) -> None:
    parent = path.parent
    while parent != folder and folder in parent.parents:
        with contextlib.suppress(OSError):
            parent.rmdir()  # only succeeds when empty
        parent = parent.parent


def write_dandiset_yaml(folder: str | Path, facts: list[OutputFacts]) -> Path | None:
    """Write the ``dandiset.yaml`` draft into ``folder`` (over an earlier draft of this package's, never over
    another file); None when a dandiset.yaml of someone else's is there."""
    import yaml

    path = Path(folder) / DANDISET_FILE
    if path.exists() and not path.read_text(encoding="utf-8", errors="replace").startswith(DRAFT_MARKER):
        log.info("%s exists and was not written by nwb-cascade: left as it is", path)
        return None
    sources = sorted({source for fact in facts for source in fact.sources}, key=lambda item: (item[0], item[1] or ""))
    origin = ", ".join(f"DANDI:{dandiset}" + (f" version {version}" if version else "") for dandiset, version in sources)
    related = [{
        "identifier": f"DANDI:{dandiset}" + (f"/{version}" if version else ""),
        "name": f"DANDI:{dandiset}" + (f" version {version}" if version else ""),
        "relation": "dcite:IsDerivedFrom",
        "repository": "DANDI Archive",
        "url": f"https://dandiarchive.org/dandiset/{dandiset}" + (f"/{version}" if version else ""),
        "resourceType": "dcite:Dataset",
    } for dandiset, version in sources]
    metadata: dict[str, Any] = {
        "identifier": PLACEHOLDER,
        "name": f"Cascade spike inference of {origin or 'local two-photon sessions'}",
        "description": (f"Spike rates and discrete spikes inferred with Cascade (Rupprecht et al. 2021) by nwb-cascade "
                        f"{__version__} from the ΔF/F of {len(facts)} session(s)"
                        + (f" of {origin}" if origin else "") + ". Each file holds the session's metadata, ROI table "
                        "and ΔF/F with the results in processing/cascade (ndx-cascade), and the run's provenance."),
        "relatedResource": related,
        "keywords": ["spike inference", "Cascade", "two-photon calcium imaging", "derived data"],
    }
    header = (f"{DRAFT_MARKER} {__version__}.\n"
              "# Derived from: " + (origin or "local files (no dandiset)") + ".\n"
              "# Before `dandi upload`: create the dandiset on https://dandiarchive.org, replace PLACEHOLDER by its\n"
              "# identifier (DANDI:xxxxxx), and enter name, description, license and the related resources in its\n"
              "# metadata there (the archive's metadata, not this file, is what gets published).\n")
    with atomic_write(path) as partial:
        partial.write_text(header + yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path

"""A DANDI API on 127.0.0.1 for tests: the archive's responses, in their real shape
(tests/fixtures/dandi), for one dandiset holding one or several NWB assets.

Add :meth:`DandiArchive.route` to a :class:`~http_server.RangeServer`'s routes; each asset's
bytes are the server's file ``blobs/<prefix>/<blob id>``, reached through the API's
``download/`` redirect as on the real archive (API -> S3 blob URL with a query).  The asset
listing honours ``path=`` and, with ``metadata=true``, includes each asset's metadata, whose
``variableMeasured`` lists the neurodata types dandi-cli records at upload (for NWB files:
``PlaneSegmentation``, ``ImagingPlane``, ``TwoPhotonSeries``...).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dandi"
DANDISET = "000728"
VERSION = "0.240827.1809"
ASSET_ID = "2f4b6a58-7d7e-4c1f-9f53-6c1f2b0f8a11"
BLOB_ID = "8d3c0e5a-1c2b-4e8f-a4a4-3b9f0c7d2e61"
BLOB_PREFIX = "8d3/c0e"
ASSET_PATH = "sub-691657859/sub-691657859_ses-710504563-StimA_behavior+image+ophys.nwb"  # a real path of 000728
#: What dandi-cli records in variableMeasured for a processed ophys file, a raw movie, and a behaviour file.
PROCESSED = ("ImagingPlane", "OpticalChannel", "PlaneSegmentation", "ProcessingModule")
RAW_MOVIE = ("ImagingPlane", "OpticalChannel", "TwoPhotonSeries")
BEHAVIOR = ("BehavioralTimeSeries", "ProcessingModule")


@dataclass
class Asset:
    """One asset of the served dandiset: its path, the file it serves, and its measured variables."""

    path: str
    file: Path
    variables: tuple[str, ...] = PROCESSED
    asset_id: str = ""
    blob_id: str = ""

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.path.encode()).hexdigest()
        self.asset_id = self.asset_id or f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"
        self.blob_id = self.blob_id or f"{digest[32:40]}-{digest[40:44]}-{digest[44:48]}-{digest[48:52]}-{digest[52:64]}"

    @property
    def prefix(self) -> str:
        return f"{self.blob_id[:3]}/{self.blob_id[3:6]}"


@dataclass
class DandiArchive:
    """Serves dandiset 000728 with ``file`` as its one asset (at ASSET_PATH), or ``assets``; ``token``
    makes it embargoed."""

    root: Path
    file: Path | None = None
    token: str | None = None
    base: str = ""
    assets: list[Asset] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.file is not None:
            self.assets.insert(0, Asset(ASSET_PATH, Path(self.file), asset_id=ASSET_ID, blob_id=BLOB_ID))
        for asset in self.assets:
            blob = self.root / "blobs" / asset.prefix / asset.blob_id
            blob.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(asset.file, blob)
        self.size = sum((self.root / "blobs" / a.prefix / a.blob_id).stat().st_size for a in self.assets)
        # the archive's digest of each asset: computed when it was uploaded (here: now)
        self.digests = {a.asset_id: hashlib.sha256((self.root / "blobs" / a.prefix / a.blob_id).read_bytes()).hexdigest()
                        for a in self.assets}

    def _text(self, name: str, asset: Asset | None = None) -> str:
        text = (FIXTURES / name).read_text()
        values = {"api": f"{self.base}/api", "base": self.base, "size": str(self.size),
                  "embargo_status": "EMBARGOED" if self.token else "OPEN", "etag": "0" * 32 + "-1",
                  "sha256": "0" * 64}
        if asset is not None:
            blob = self.root / "blobs" / asset.prefix / asset.blob_id
            values.update(asset_id=asset.asset_id, blob_id=asset.blob_id, blob_prefix=asset.prefix,
                          asset_path=asset.path, size=str(blob.stat().st_size), sha256=self.digests[asset.asset_id])
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text

    def _metadata(self, asset: Asset) -> dict:
        metadata = json.loads(self._text("asset_metadata.json", asset))
        metadata["variableMeasured"] = [{"value": kind, "schemaKey": "PropertyValue"} for kind in asset.variables]
        return metadata

    def _row(self, asset: Asset) -> dict:
        return json.loads(self._text("assets_page.json", asset))["results"][0]

    def route(self, method: str, path: str, headers) -> tuple[int, dict, bytes] | None:
        url = urlparse(path)
        if not url.path.startswith("/api/"):
            return None
        json_headers = {"Content-Type": "application/json"}
        authorised = self.token is None or headers.get("Authorization") == f"token {self.token}"
        if url.path == "/api/info/":
            return 200, json_headers, self._text("info.json").encode()
        if url.path == "/api/auth/token":
            return (200, json_headers, b'"ok"') if authorised else (401, json_headers, b'{"detail":"Invalid token."}')
        if not authorised:
            return 401, json_headers, b'{"detail":"Authentication credentials were not provided."}'
        dandiset = f"/api/dandisets/{DANDISET}/"
        if url.path == dandiset:
            return 200, json_headers, self._text("dandiset.json").encode()
        query = parse_qs(url.query)
        for version in (VERSION, "draft"):
            listing = f"{dandiset}versions/{version}/assets/"
            if url.path == listing:
                wanted = query.get("path", [""])[0]
                rows = []
                for asset in sorted(self.assets, key=lambda a: a.path):
                    if asset.path.startswith(wanted):
                        row = self._row(asset)
                        if query.get("metadata", ["false"])[0].lower() == "true":
                            row["metadata"] = self._metadata(asset)
                        rows.append(row)
                page = {"count": len(rows), "next": None, "previous": None, "results": rows}
                return 200, json_headers, json.dumps(page).encode()
            for asset in self.assets:
                if url.path in (f"{listing}{asset.asset_id}/", f"/api/assets/{asset.asset_id}/"):
                    return 200, json_headers, json.dumps(self._metadata(asset)).encode()
                if url.path in (f"{listing}{asset.asset_id}/info/", f"/api/assets/{asset.asset_id}/info/"):
                    return 200, json_headers, json.dumps({**self._row(asset), "metadata": self._metadata(asset)}).encode()
        for asset in self.assets:
            if url.path == f"/api/assets/{asset.asset_id}/download/":
                location = (f"{self.base}/blobs/{asset.prefix}/{asset.blob_id}?response-content-disposition="
                            f"attachment%3B%20filename%3D%22{Path(asset.path).name}%22")
                return 302, {"Location": location}, b""
        return 404, json_headers, b'{"detail":"Not found."}'

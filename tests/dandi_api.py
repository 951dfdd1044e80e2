"""A DANDI API on 127.0.0.1 for tests: the archive's responses, in their real shape
(tests/fixtures/dandi), for one dandiset (000728) holding one NWB asset.

Add :meth:`DandiArchive.route` to a :class:`~http_server.RangeServer`'s routes; the asset's
bytes are the server's file ``blobs/<prefix>/<blob id>``, reached through the API's
``download/`` redirect as on the real archive (API -> S3 blob URL with a query).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dandi"
DANDISET = "000728"
VERSION = "0.240827.1809"
ASSET_ID = "2f4b6a58-7d7e-4c1f-9f53-6c1f2b0f8a11"
BLOB_ID = "8d3c0e5a-1c2b-4e8f-a4a4-3b9f0c7d2e61"
BLOB_PREFIX = "8d3/c0e"
ASSET_PATH = "sub-691657859/sub-691657859_ses-710504563-StimA_behavior+image+ophys.nwb"  # a real path of 000728


@dataclass
class DandiArchive:
    """Serves dandiset 000728 with ``file`` as its one asset; ``token`` makes it embargoed."""

    root: Path
    file: Path
    token: str | None = None
    base: str = ""

    def __post_init__(self) -> None:
        blob = self.root / "blobs" / BLOB_PREFIX / BLOB_ID
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.file, blob)
        self.size = blob.stat().st_size

    def _body(self, name: str) -> bytes:
        text = (FIXTURES / name).read_text()
        values = {"api": f"{self.base}/api", "base": self.base, "asset_id": ASSET_ID, "blob_id": BLOB_ID,
                  "blob_prefix": BLOB_PREFIX, "asset_path": ASSET_PATH, "size": str(self.size),
                  "embargo_status": "EMBARGOED" if self.token else "OPEN", "etag": "0" * 32 + "-1",
                  "sha256": "0" * 64}
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return text.encode()

    def route(self, method: str, path: str, headers) -> tuple[int, dict, bytes] | None:
        url = urlparse(path)
        if not url.path.startswith("/api/"):
            return None
        json_headers = {"Content-Type": "application/json"}
        authorised = self.token is None or headers.get("Authorization") == f"token {self.token}"
        if url.path == "/api/info/":
            return 200, json_headers, self._body("info.json")
        if url.path == "/api/auth/token":
            return (200, json_headers, b'"ok"') if authorised else (401, json_headers, b'{"detail":"Invalid token."}')
        if not authorised:
            return 401, json_headers, b'{"detail":"Authentication credentials were not provided."}'
        dandiset = f"/api/dandisets/{DANDISET}/"
        if url.path == dandiset:
            return 200, json_headers, self._body("dandiset.json")
        for version in (VERSION, "draft"):
            assets = f"{dandiset}versions/{version}/assets/"
            if url.path == assets:
                wanted = parse_qs(url.query).get("path", [""])[0]
                page = json.loads(self._body("assets_page.json"))
                page["results"] = [row for row in page["results"] if row["path"].startswith(wanted)]
                page["count"] = len(page["results"])
                return 200, json_headers, json.dumps(page).encode()
            if url.path in (f"{assets}{ASSET_ID}/", f"/api/assets/{ASSET_ID}/"):
                return 200, json_headers, self._body("asset_metadata.json")
            if url.path == f"{assets}{ASSET_ID}/info/" or url.path == f"/api/assets/{ASSET_ID}/info/":
                info = json.loads(self._body("assets_page.json"))["results"][0]
                info["metadata"] = json.loads(self._body("asset_metadata.json"))
                return 200, json_headers, json.dumps(info).encode()
        if url.path == f"/api/assets/{ASSET_ID}/download/":
            location = (f"{self.base}/blobs/{BLOB_PREFIX}/{BLOB_ID}?response-content-disposition="
                        f"attachment%3B%20filename%3D%22{Path(ASSET_PATH).name}%22")
            return 302, {"Location": location}, b""
        return 404, json_headers, b'{"detail":"Not found."}'

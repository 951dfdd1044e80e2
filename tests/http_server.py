"""A real HTTP server on 127.0.0.1 for download and streaming tests.

Serves files from a folder, honours ``Range`` (one range per request), sends an
``ETag`` and ``Last-Modified`` (from the file's modification time and size, as
nginx does), logs every request with the bytes it sent, and can misbehave on
purpose: drop the connection part-way through a response, answer with a server
error, stall (before answering, or after some bytes), or send bytes from the wrong
place under the right headers, a given number of times (after a given number of good
answers); send slowly (``rate`` bytes per second, steadily);
ignore ``Range`` (``honour_ranges=False``, saying so with ``Accept-Ranges: none``
unless ``advertise=False``, when it says nothing and just sends the whole file).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Fault:
    """Misbehave on the next ``times`` GET requests (after letting ``skip`` pass): ``status`` (e.g. 500), drop
    after ``drop_after`` bytes, go silent for ``stall`` seconds (after ``drop_after`` bytes when given, else
    before answering), or send the bytes ``shift`` places further on under the headers of the range asked for
    (a faulty proxy or cache: right length, right Content-Range, wrong bytes)."""

    times: int = 1
    status: int | None = None
    drop_after: int | None = None
    stall: float | None = None
    shift: int = 0
    skip: int = 0


@dataclass
class RangeServer:
    root: Path
    honour_ranges: bool = True
    advertise: bool = True
    log: list[tuple[str, str, int, int]] = field(default_factory=list)  # (method, path, status, bytes sent)
    faults: list[Fault] = field(default_factory=list)
    # Extra answers before the files: each route gets (method, path with query, headers) and
    # returns None (not mine) or (status, headers, body).
    routes: list = field(default_factory=list)
    rate: float | None = None  # bytes per second of every answer's body (a slow but steady server)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                for route in server.routes:
                    answer = route(self.command, self.path, self.headers)
                    if answer is not None:
                        status, headers, body = answer
                        self.send_response(status)
                        for key, value in headers.items():
                            self.send_header(key, value)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        if not head:
                            self.wfile.write(body)
                        server.log.append((self.command, self.path, status, 0 if head else len(body)))
                        return
                fault = server._next_fault() if not head else None
                if fault is not None and fault.stall is not None and fault.drop_after is None:
                    time.sleep(fault.stall)
                if fault is not None and fault.status is not None:
                    self.send_response(fault.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    server.log.append((self.command, self.path, fault.status, 0))
                    return
                path = server.root / self.path.split("?", 1)[0].lstrip("/")
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    server.log.append((self.command, self.path, 404, 0))
                    return
                size = path.stat().st_size
                start, stop, status = 0, size, 200
                match = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", ""))
                if match and server.honour_ranges:
                    first, last = match.groups()
                    if first == "":
                        start = max(0, size - int(last))
                    else:
                        start = int(first)
                        stop = min(size, int(last) + 1) if last else size
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        server.log.append((self.command, self.path, 416, 0))
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(stop - start))
                if server.honour_ranges or server.advertise:
                    self.send_header("Accept-Ranges", "bytes" if server.honour_ranges else "none")
                info = path.stat()
                self.send_header("ETag", f'"{info.st_mtime_ns:x}-{info.st_size:x}"')
                self.send_header("Last-Modified", formatdate(info.st_mtime, usegmt=True))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
                self.end_headers()
                if head:
                    server.log.append((self.command, self.path, status, 0))
                    return
                limit = stop - start
                if fault is not None and fault.drop_after is not None:
                    limit = min(limit, fault.drop_after)
                stall = fault.stall if fault is not None and fault.drop_after is not None else None
                sent = 0
                try:  # in pieces, counting what the socket took: a client may hang up early
                    with open(path, "rb") as handle:
                        shift = fault.shift if fault is not None else 0
                        handle.seek(start + shift)
                        step = 1 << 16 if server.rate is None else max(1, int(server.rate // 10))
                        began = time.monotonic()
                        while sent < limit:
                            piece = handle.read(min(step, limit - sent))
                            piece += b"\0" * (min(step, limit - sent) - len(piece))  # shifted past the end
                            self.wfile.write(piece)
                            sent += len(piece)
                            if server.rate is not None:
                                self.wfile.flush()
                                time.sleep(max(0.0, began + sent / server.rate - time.monotonic()))
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return
                finally:
                    server.log.append((self.command, self.path, status, sent))
                if limit < stop - start:  # go silent, then drop the connection mid-response
                    if stall:
                        time.sleep(stall)
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:  # a client that hung up is no news
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self._lock = threading.Lock()
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            while self.faults and self.faults[0].times <= 0:
                self.faults.pop(0)
            if not self.faults:
                return None
            if self.faults[0].skip > 0:
                self.faults[0].skip -= 1
                return None
            self.faults[0].times -= 1
            return self.faults[0]

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def bytes_sent(self) -> int:
        return sum(entry[3] for entry in self.log)

    def __enter__(self) -> RangeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def unused_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (for offline tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


__all__ = ["Fault", "RangeServer", "unused_port_url"]

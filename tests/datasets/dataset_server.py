"""A real HTTP file server for download tests and benchmarks, with misbehaviours on demand.

Per path a :class:`Resource` says how to misbehave: ignore Range, drop the connection after N body
bytes, answer a list of statuses first (500 then 200), always answer a status (404), drip slowly,
announce a wrong Content-Length, stall, or serve corrupted bytes. It honours ``Range``/``If-Range``
(strong ETag or Last-Modified) like a real server, and counts requests and body bytes sent.

Run standalone (benchmarks: a separate process, so the client does not share its GIL)::

    python tests/datasets/server.py DIR      # serves DIR with sendfile, prints "PORT <n>"
"""

from __future__ import annotations

import email.utils
import hashlib
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Resource:
    data: bytes | Path
    honour_range: bool = True
    drop_after: int | None = None
    """close the connection after this many body bytes ..."""
    drops: int = 1
    """... for this many responses"""
    statuses: list[int] = field(default_factory=list)
    """answered (in order, once each) before the real content"""
    after: list[int] = field(default_factory=list)
    """answered (in order, once each) once the content has been served (or dropped) once"""
    served: int = 0
    status: int | None = None
    """always answer this status (e.g. 404)"""
    drip: float | None = None
    """bytes per second"""
    length_delta: int = 0
    """announce Content-Length = real length + delta"""
    stall_after: int | None = None
    """send this many body bytes, then go silent for `stall_seconds`"""
    stall_seconds: float = 5.0
    corrupt: bool = False
    """flip one byte in the middle of the body"""
    etag: str | None = "auto"
    last_modified: str | None = "auto"

    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)

    def read(self, start: int, end: int) -> bytes:
        if isinstance(self.data, Path):
            with open(self.data, "rb") as fh:
                fh.seek(start)
                return fh.read(end - start)
        return self.data[start:end]

    def validators(self) -> tuple[str | None, str | None]:
        etag = self.etag
        if etag == "auto":
            probe = self.read(0, 65536) + str(self.size()).encode()
            etag = '"' + hashlib.sha256(probe).hexdigest()[:16] + '"'
        modified = self.last_modified
        if modified == "auto":
            mtime = self.data.stat().st_mtime if isinstance(self.data, Path) else 1_700_000_000
            modified = email.utils.formatdate(mtime, usegmt=True)
        return etag, modified


@dataclass
class Hit:
    method: str
    path: str
    range: str | None
    status: int
    sent: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class FileServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.resources: dict[str, Resource] = {}
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    # -- test API
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, data: bytes | Path, **behaviour: object) -> str:
        self.resources[path] = Resource(data, **behaviour)  # type: ignore[arg-type]
        return self.url(path)

    def sent(self, path: str | None = None) -> int:
        """Body bytes sent (for one path, or in total)."""
        return sum(h.sent for h in self.hits if path is None or h.path.split("?")[0] == path)

    def gets(self, path: str | None = None) -> list[Hit]:
        return [h for h in self.hits if h.method == "GET" and (path is None or h.path.split("?")[0] == path)]

    def start(self) -> FileServer:
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def lookup(self, path: str) -> Resource | None:
        clean = path.split("?")[0]
        if clean in self.resources:
            return self.resources[clean]
        if self.root is not None:
            candidate = (self.root / clean.lstrip("/")).resolve()
            if candidate.is_file() and self.root.resolve() in candidate.parents:
                return Resource(candidate)
        return None


class _Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        pass

    def do_HEAD(self) -> None:
        self.handle_request(head=True)

    def do_GET(self) -> None:
        self.handle_request(head=False)

    def handle_request(self, head: bool) -> None:
        hit = Hit(self.command, self.path, self.headers.get("Range"), 0, headers=dict(self.headers))
        with self.server.lock:
            self.server.hits.append(hit)
        resource = self.server.lookup(self.path)
        if resource is None:
            return self.answer(hit, 404)
        with self.server.lock:
            if resource.statuses:
                forced = resource.statuses.pop(0)
            elif resource.served and resource.after:
                forced = resource.after.pop(0)
            else:
                forced = resource.status
            if forced is None or forced == 200:
                resource.served += 1
        if forced is not None and forced != 200:
            return self.answer(hit, forced)
        size = resource.size()
        etag, modified = resource.validators()
        start, end, status = 0, size, 200
        wanted = self.headers.get("Range")
        if wanted and resource.honour_range and self.if_range_ok(etag, modified):
            spec = wanted.removeprefix("bytes=").split(",")[0]
            first, _, last = spec.partition("-")
            if first.isdigit():
                start = int(first)
                end = min(int(last) + 1, size) if last.isdigit() else size
                if start >= size:
                    return self.answer(hit, 416, {"Content-Range": f"bytes */{size}"})
                status = 206
        hit.status = status
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + resource.length_delta))
        self.send_header("Connection", "close")
        if resource.honour_range:
            self.send_header("Accept-Ranges", "bytes")
        if etag:
            self.send_header("ETag", etag)
        if modified:
            self.send_header("Last-Modified", modified)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        self.close_connection = True
        if not head:
            self.body(hit, resource, start, end)

    def if_range_ok(self, etag: str | None, modified: str | None) -> bool:
        validator = self.headers.get("If-Range")
        return validator is None or validator in (etag, modified)

    def answer(self, hit: Hit, status: int, headers: dict[str, str] | None = None) -> None:
        hit.status = status
        body = f"status {status}\n".encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self, hit: Hit, r: Resource, start: int, end: int) -> None:
        with self.server.lock:
            drop = r.drop_after if (r.drop_after is not None and r.drops > 0) else None
            if drop is not None:
                r.drops -= 1
        plain = drop is None and r.drip is None and r.stall_after is None and not r.corrupt
        try:
            if plain and isinstance(r.data, Path):
                self.wfile.flush()
                with open(r.data, "rb") as fh:
                    hit.sent += self.connection.sendfile(fh, start, end - start)
                return
            middle = (start + end) // 2
            pos = start
            step = 65536 if r.drip is None else max(1, min(65536, int(r.drip / 20)))
            while pos < end:
                n = min(step, end - pos)
                if drop is not None:
                    n = min(n, drop - hit.sent)
                    if n <= 0:
                        break
                chunk = r.read(pos, pos + n)
                if r.corrupt and pos <= middle < pos + n:
                    buf = bytearray(chunk)
                    buf[middle - pos] ^= 0xFF
                    chunk = bytes(buf)
                self.wfile.write(chunk)
                hit.sent += n
                pos += n
                if r.stall_after is not None and hit.sent >= r.stall_after:
                    self.wfile.flush()
                    time.sleep(r.stall_seconds)
                    r.stall_after = None
                if r.drip is not None:
                    self.wfile.flush()
                    time.sleep(n / r.drip)
            self.wfile.flush()
            if drop is not None:
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    server = FileServer(root)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

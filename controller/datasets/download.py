"""Resumable, verified downloads: stream to ``<name>.part``, hash while streaming, rename when it checks out.

Guarantees (each one is tested against a real HTTP server in ``tests/datasets``):

- the final name appears only after the sha256 (and the size, when known) matched: a file under its
  final name is always complete and verified;
- a dropped connection resumes with ``Range: bytes=<have>-``, guarded by ``If-Range`` with the
  ETag (strong) or Last-Modified seen before, and the 206 answer is checked against the recorded
  ETag, Last-Modified and total size; any disagreement, a 200 answer (server ignores Range) or a 416
  on a partial file restarts cleanly from byte 0;
- a restart of the process resumes as well: the validators live in ``<name>.part.json`` and the
  hash of the bytes already on disk is recomputed (local read, ~1.5 GB/s);
- 5xx, 408, 429, refused or broken connections and timeouts are retried with exponential backoff
  ``wait_k = min(backoff * 2**(k-1), backoff_max)`` for the k-th consecutive failure without progress,
  at most ``attempts`` times (default 5 retries, 25 s of waiting in all; ``--retries`` or
  ``$IANVS_LAB_DOWNLOAD_RETRIES``), one log line per retry; what waiting cannot fix fails at once
  with a final error: other 4xx answers, an unknown host name, a TLS certificate or handshake error;
- memory is bounded by one chunk (1 MiB) whatever the file size.

Secrets: messages use ``source.display`` and every library message passes the source's
:class:`~controller.datasets.sources.Redactor`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller import fsio
from controller.datasets.network_errors import Explained, explain
from controller.datasets.progress import NoProgress, Progress, human_bytes
from controller.datasets.sources import Redactor, Source, basic_auth, presign
from controller.errors import DatasetError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Bytes per read/write/hash step: large enough for syscall-bound throughput, small for memory."""
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504, 507, 509})
RETRIES_VARIABLE = "IANVS_LAB_DOWNLOAD_RETRIES"
"""The retries setting where no --retries is given (also `controller run`, which has no such option)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``attempts``: retries after consecutive failures that brought no new bytes.

    The defaults wait 1 + 2 + 4 + 8 + 10 = 25 s in all before giving up: long enough for a server
    restart or a flaky link, short enough that a typo in the URL is reported while the user waits.
    """

    attempts: int = 5
    backoff: float = 1.0
    backoff_max: float = 10.0
    connect_timeout: float = 15.0
    read_timeout: float = 60.0

    def wait(self, failures: int) -> float:
        return float(min(self.backoff * 2 ** (failures - 1), self.backoff_max))

    @classmethod
    def from_settings(cls, retries: int | None = None) -> RetryPolicy:
        """``retries`` (``--retries``) when given, else ``$IANVS_LAB_DOWNLOAD_RETRIES``, else the default."""
        if retries is None:
            text = os.environ.get(RETRIES_VARIABLE, "").strip()
            if not text:
                return cls()
            if not text.isdigit():
                raise DatasetError(f"{RETRIES_VARIABLE}: expected a whole number of retries (0 or more), got {text!r}")
            retries = int(text)
        return cls(attempts=retries)


@dataclass(frozen=True)
class Downloaded:
    path: Path
    sha256: str
    size: int
    reused: int
    """bytes taken over from an earlier partial download"""
    fetched: int
    """bytes received over the network by this call"""


# --- hashing ------------------------------------------------------------------------------------


def file_sha256(path: Path, limit: int | None = None, progress: Progress | None = None) -> hashlib._Hash:
    """sha256 object over the first ``limit`` bytes of ``path`` (all when None), read in 1 MiB steps."""
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    left = limit
    with open(path, "rb", buffering=0) as fh:
        while left is None or left > 0:
            n = fh.readinto(view if left is None or left >= CHUNK else view[:left])
            if not n:
                break
            digest.update(view[:n])
            if progress is not None:
                progress.update(n)
            if left is not None:
                left -= n
    return digest


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    """Hex sha256 of a whole file."""
    try:
        if progress is not None:
            progress.start(path.stat().st_size, 0)
        try:
            return file_sha256(path, progress=progress).hexdigest()
        finally:
            if progress is not None:
                progress.close()
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror or exc}", file=path) from None


def check_sha256(expected: str | None, actual: str, what: str) -> None:
    """Raise the checksum error naming both hashes (the only honest description of a mismatch)."""
    if expected and expected.lower() != actual:
        raise DatasetError(f"{what}: sha256 mismatch: expected {expected.lower()}, got {actual}")


# --- HTTP ---------------------------------------------------------------------------------------


class _BackgroundDigest:
    """Feeds a hash object from a second thread, so hashing overlaps receiving and writing.

    hashlib releases the GIL for buffers over 2 KiB, so on two cores the sha256 costs no wall time;
    the queue holds at most ``depth`` chunks (memory stays bounded).
    """

    def __init__(self, digest: Any, depth: int = 8) -> None:
        import queue
        import threading

        self.digest = digest
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (chunk := self.queue.get()) is not None:
            self.digest.update(chunk)

    def update(self, data: bytes) -> None:
        self.queue.put(data)

    def drain(self) -> None:
        self.queue.put(None)
        self.thread.join()


class _Retry(Exception):
    """A failure worth another attempt; the message is one redacted line."""


class _Restart(Exception):
    """The partial file cannot be continued: start again from byte 0."""


@dataclass
class _PartMeta:
    source: str
    etag: str | None = None
    last_modified: str | None = None
    total: int | None = None

    def if_range(self) -> str | None:
        """A strong validator for If-Range (weak ETags are not allowed there)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """'bytes 10-19/100' -> (10, 19, 100); 'bytes */100' -> (None, None, 100); '*' totals -> None."""
    if not value or not value.startswith("bytes "):
        return None, None, None
    span, _, total_text = value[6:].partition("/")
    total = int(total_text) if total_text.strip().isdigit() else None
    if span.strip() == "*":
        return None, None, total
    first, _, last = span.partition("-")
    try:
        return int(first), int(last), total
    except ValueError:
        return None, None, total


class _Downloader:
    def __init__(
        self,
        source: Source,
        dest: Path,
        sha256: str | None,
        size: int | None,
        policy: RetryPolicy,
        progress: Progress,
        before_body: Callable[[int | None, int | None], None] | None,
        redactor: Redactor,
    ) -> None:
        self.source, self.dest, self.expected_sha, self.expected_size = source, dest, sha256, size
        self.policy, self.progress, self.before_body, self.redactor = policy, progress, before_body, redactor
        self.part = dest.with_name(dest.name + ".part")
        self.meta_path = dest.with_name(dest.name + ".part.json")
        self.meta = _PartMeta(source.display)
        self.digest: Any = None
        self.hashed = 0
        self.reused = 0
        self.fetched = 0
        self.checked_space = False
        self.session: requests.Session | None = None

    # -- state on disk
    def load_state(self) -> None:
        """Take over an earlier .part only if its metadata names the same source."""
        if not self.part.exists():
            self.meta_path.unlink(missing_ok=True)
            return
        try:
            data = json.loads(self.meta_path.read_text())
            meta = _PartMeta(**data)
        except (OSError, ValueError, TypeError):
            meta = None
        if meta is None or meta.source != self.source.display:
            log.info("%s: discarding a partial download without matching metadata", self.part)
            self.reset()
            return
        self.meta = meta
        self.reused = self.part.stat().st_size

    def save_meta(self) -> None:
        fsio.write_json(self.meta_path, self.meta.__dict__, indent=None)

    def reset(self) -> None:
        self.part.unlink(missing_ok=True)
        self.meta_path.unlink(missing_ok=True)
        self.meta = _PartMeta(self.source.display)
        self.digest, self.hashed, self.reused = None, 0, 0

    def have(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    # -- main loop
    def run(self) -> Downloaded:
        import requests

        self.load_state()
        failures = restarts = 0
        with requests.Session() as session, self.redactor.guard_loggers():
            session.auth = basic_auth(self.source)  # requests drops it on redirects to other hosts
            self.session = session
            while True:
                before = self.fetched
                try:
                    self.attempt()
                    break
                except _Restart as why:
                    restarts += 1
                    if restarts > 3:
                        raise DatasetError(
                            f"{self.source.display}: the server keeps answering ranges inconsistently: {why}"
                        ) from None
                    log.info("%s: %s; starting again from byte 0", self.source.display, why)
                    self.reset()
                    continue
                except _Retry as why:
                    failures = 0 if self.fetched > before else failures + 1
                    if failures > self.policy.attempts:
                        raise DatasetError(
                            f"{self.source.display}: download failed after {failures} attempts: {why}"
                        ) from None
                    retry = max(failures, 1)
                    log.warning("%s: %s; retrying (%d/%d)", self.source.display, why, retry, self.policy.attempts)
                    time.sleep(self.policy.wait(retry))
        self.progress.close()
        return self.finish()

    def request_url(self) -> str:
        return presign(self.source, self.redactor) if self.source.kind == "s3" else self.source.url

    def attempt(self) -> None:
        """One request; returns when the body is complete on disk, raises _Retry/_Restart otherwise."""
        import requests

        have = self.have()
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            validator = self.meta.if_range()
            if validator:
                headers["If-Range"] = validator
        assert self.session is not None
        url = self.request_url()
        try:
            response = self.session.get(
                url, headers=headers, stream=True, timeout=(self.policy.connect_timeout, self.policy.read_timeout)
            )
        except requests.RequestException as exc:
            why = self.explain(exc, url)
            if not why.transient:
                raise DatasetError(f"{self.source.display}: {why.text}") from None
            raise _Retry(why.text) from None
        with response:
            start = self.check_response(response, have)
            if start is None:
                return  # 416 on a complete file
            self.stream(response, start)
        total = self.meta.total
        if total is not None and self.have() < total:
            raise _Retry(f"connection closed after {human_bytes(self.have())} of {human_bytes(total)}")

    def check_response(self, response: requests.Response, have: int) -> int | None:
        """Validate status and headers; return the offset the body starts at (None: already complete)."""
        status = response.status_code
        if status == 416 and have:
            _, _, total = _content_range(response.headers.get("Content-Range"))
            if total is not None and total == have and self.meta.total in (None, total):
                return None
            raise _Restart(f"server refused the range {have}- (416)")
        if status in RETRYABLE_STATUS:
            raise _Retry(f"HTTP {status} {response.reason}")
        if status not in (200, 206):
            raise DatasetError(self.status_message(status, response.reason))
        etag = response.headers.get("ETag")
        modified = response.headers.get("Last-Modified")
        if status == 206:
            first, _, total = _content_range(response.headers.get("Content-Range"))
            if not have or first != have:
                raise _Restart(f"server answered an unexpected range ({first}- instead of {have}-)")
            changed = (
                (self.meta.total is not None and total != self.meta.total)
                or (self.meta.etag is not None and etag is not None and etag != self.meta.etag)
                or (
                    self.meta.last_modified is not None and modified is not None and modified != self.meta.last_modified
                )
            )
            if changed:
                raise _Restart("the file changed on the server since the partial download")
            start = have
        else:
            if have:
                log.info("%s: server sent the whole file (no resume); starting again from byte 0", self.source.display)
                self.reset()
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            start = 0
        if self.expected_size is not None and total is not None and total != self.expected_size:
            self.reset()
            raise DatasetError(
                f"{self.source.display}: size mismatch: expected {self.expected_size} bytes, the server announces {total}"
            )
        if not self.checked_space and self.before_body is not None:
            self.before_body(None if total is None else total - start, total)  # e.g. the free-disk check
        self.checked_space = True
        self.meta.etag, self.meta.last_modified, self.meta.total = etag, modified, total
        self.save_meta()
        return start

    def status_message(self, status: int, reason: str) -> str:
        hint = {
            401: "credentials required or rejected",
            403: "access denied (expired or wrong presigned URL, missing credentials?)",
            404: "no such file: check the URL",
            410: "no longer available",
        }.get(status, "the server refused the request")
        return f"{self.source.display}: HTTP {status} {self.redactor.scrub(reason or '')}: {hint}"

    def stream(self, response: requests.Response, start: int) -> None:
        import requests
        import urllib3.exceptions

        if self.digest is None or self.hashed != start:
            self.digest = file_sha256(self.part, limit=start) if start else hashlib.sha256()
            self.hashed = start
        self.progress.start(self.meta.total, start)
        raw = response.raw
        # read1: whatever arrived, up to 1 MiB (read() would block for a full MiB on a slow link)
        read = getattr(raw, "read1", None) or raw.read
        hasher = _BackgroundDigest(self.digest)
        fd = os.open(self.part, os.O_WRONLY | os.O_CREAT, 0o666)
        try:
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)
            while True:
                try:
                    data = read(CHUNK, decode_content=False)
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                    # mid-body, everything is worth a retry: the next request resumes where this one broke
                    raise _Retry(self.explain(exc, response.url).text) from None
                if not data:
                    break
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                hasher.update(data)
                self.hashed += len(data)
                self.fetched += len(data)
                self.progress.update(len(data))
        finally:
            os.close(fd)
            hasher.drain()  # the digest covers exactly the bytes written, also after a failure

    def explain(self, exc: BaseException, url: str) -> Explained:
        policy = self.policy
        why = explain(exc, url, connect_timeout=policy.connect_timeout, read_timeout=policy.read_timeout)
        why = replace(why, text=self.redactor.scrub(why.text), cause=self.redactor.scrub(why.cause))
        log.info("%s: %s", self.source.display, why.cause)  # the library's own words, shown with -v
        return why

    def finish(self) -> Downloaded:
        size = self.have()
        if self.digest is None or self.hashed != size:  # e.g. completed before a restart (416 path)
            self.digest = file_sha256(self.part)
        actual = self.digest.hexdigest()
        if self.expected_size is not None and size != self.expected_size:
            self.reset()
            raise DatasetError(f"{self.source.display}: size mismatch: expected {self.expected_size} bytes, got {size}")
        if self.expected_sha and self.expected_sha.lower() != actual:
            self.reset()
            check_sha256(self.expected_sha, actual, self.source.display)
        # a rename, not fsio: the .part file must outlive failures so that the next run resumes it
        os.replace(self.part, self.dest)
        self.meta_path.unlink(missing_ok=True)
        return Downloaded(self.dest, actual, size, self.reused, self.fetched)


def download(
    source: Source,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    policy: RetryPolicy | None = None,
    progress: Progress | None = None,
    before_body: Callable[[int | None, int | None], None] | None = None,
    redactor: Redactor | None = None,
) -> Downloaded:
    """Fetch an http(s)/s3/obs ``source`` to ``dest`` (see the module doc for the guarantees).

    ``before_body(remaining_bytes, total_bytes)`` runs once, after the first good response and before
    any byte is written (the free-disk check lives there); None where the server gives no length.
    Raises DatasetError with a redacted message.
    """
    if source.kind not in ("http", "s3"):
        raise ValueError(f"download() fetches remote sources, got {source.kind}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    worker = _Downloader(
        source,
        dest,
        sha256,
        size,
        policy or RetryPolicy.from_settings(),
        progress or NoProgress(),
        before_body,
        redactor or source.redactor(),
    )
    try:
        return worker.run()
    finally:
        worker.progress.close()

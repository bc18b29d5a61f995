"""Case data for labs whose nodes do not share the controller's folders (a multi-host lab): the files a test case
reads travel as one archive the controller serves over HTTP, and each case Pod fills its node's dataset cache from
it with the project's own dataset manager before the case starts.

    controller   `bundle`: every file the cases name (index files, plugin files) and every file the index files
                 name, in one tar whose members keep their absolute paths; `DataServer` serves it
    case Pod     `materialise`: download, verify (sha256), extract into ``<cache>/case-data-<sha>`` under the
                 cache's folder lock (Pods on one node share it; the second one finds it present), then link each
                 of the bundle's root folders to its copy, so the case opens the same paths as on the controller
                 and its id, spec hash and result are those of a local run

Why the controller serves the data: a lab's machines often have no way out (the lab built here has none), while
they must reach the controller's machine anyway to be managed. docs/multi-host-lab.md says how to choose the
address the nodes use.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controller import fsio
from controller.errors import ConfigError

log = logging.getLogger(__name__)

KEEP_ARCHIVES = 8
"""case-data archives kept on the controller, newest first: each job's run makes one per distinct set of files"""
DEFAULT_DATA_CACHE = "/var/lib/ianvs-lab/datasets"
"""the node-local dataset cache, a hostPath in every case Pod of a job with case data"""
PREFIX = "case-data-"


@dataclass(frozen=True)
class CaseData:
    """Where a case Pod gets the files its case reads: ``url`` (an archive, ``sha256``), and the folders
    (``roots``, absolute) the archive's members live under."""

    url: str
    sha256: str
    roots: tuple[str, ...]
    size: int = 0

    def to_object(self) -> dict[str, Any]:
        return {"url": self.url, "sha256": self.sha256, "roots": list(self.roots), "size": self.size}

    @classmethod
    def from_object(cls, data: Mapping[str, Any] | None) -> CaseData | None:
        if not data:
            return None
        return cls(
            str(data["url"]), str(data["sha256"]), tuple(str(r) for r in data["roots"]), int(data.get("size", 0))
        )


@dataclass(frozen=True)
class Bundle:
    """A built archive of case data on the controller."""

    path: Path
    sha256: str
    roots: tuple[str, ...]
    files: int
    size: int

    def case_data(self, base_url: str) -> CaseData:
        return CaseData(f"{base_url.rstrip('/')}/{self.path.name}", self.sha256, self.roots, self.size)


def files_of(named: Iterable[str], indexes: Iterable[str] = ()) -> list[Path]:
    """The files named and the index files (absolute, normalised, not resolved: a symlinked folder keeps its
    name), plus every file the index files' lines name."""
    from controller.datasets.index import read_index

    found: dict[Path, None] = {}
    for name in (*named, *indexes):
        found[Path(os.path.normpath(Path(name).absolute()))] = None
    for index in indexes:
        for sample in read_index(index, check_exists=False):
            for file in (*sample.inputs, sample.label):
                found[file] = None
    return sorted(found)


def roots_of(files: Sequence[Path]) -> tuple[str, ...]:
    """The parent folders of ``files``, outermost only."""
    from controller.lab.kind_lab import outermost

    return outermost([file.parent for file in files])


def bundle(named: Iterable[str], cache_dir: Path, indexes: Iterable[str] = ()) -> Bundle:
    """One reproducible tar (sorted members, no owners or times) of the files a job's cases read (``named``, the
    ``indexes`` and what they name), in ``cache_dir``; an archive of the same files is reused."""
    import tarfile

    from controller.provenance import file_sha256

    indexes = list(indexes)
    files = files_of(named, indexes)
    for file in files:
        if not file.is_file():
            raise ConfigError("a file the cases read is missing", file=file)
    roots = roots_of(files)
    listing = hashlib.sha256()
    for file in files:
        stat = file.stat()
        listing.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    key = listing.hexdigest()[:16]
    archive = cache_dir / f"{key}.tar"
    digest_file = cache_dir / f"{key}.tar.sha256"
    if archive.is_file() and digest_file.is_file():
        archive.touch()  # used again: the newest for `_prune`
        sha = digest_file.read_text().strip()
        return Bundle(archive, sha, roots, len(files), archive.stat().st_size)
    cache_dir.mkdir(parents=True, exist_ok=True)

    with fsio.atomic_file(archive) as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in files:
            info = tar.gettarinfo(str(file.resolve()), arcname=str(file).lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            info.mode = 0o644
            with file.open("rb") as source:
                tar.addfile(info, source)
    sha = file_sha256(archive)
    fsio.write_text(digest_file, sha + "\n")
    _prune(cache_dir)
    log.info("case data: %d files, %d bytes, in %s", len(files), archive.stat().st_size, archive)
    return Bundle(archive, sha, roots, len(files), archive.stat().st_size)


def _prune(cache_dir: Path) -> None:
    """All but the newest `KEEP_ARCHIVES` archives removed (with their digests)."""
    archives = sorted(cache_dir.glob("*.tar"), key=lambda path: path.stat().st_mtime, reverse=True)
    for old in archives[KEEP_ARCHIVES:]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)


def address_towards(url: str) -> str:
    """The controller's own address on the route to ``url``'s host (an API server): the one the lab's nodes
    reach it at, as long as they share that network (no packet is sent)."""
    import socket

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, port))
        return str(probe.getsockname()[0])


class DataServer:
    """Serves the files of one folder by name (no listing, nothing outside it) on ``host``: an ephemeral port
    unless one is given. A context manager: stopped and its socket closed on exit."""

    def __init__(self, folder: Path, host: str, port: int = 0) -> None:
        # imported here: the command line imports this module for its constants and must start fast
        import http.server
        import threading

        root = folder.resolve()

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def list_directory(self, path: str | os.PathLike[str]) -> None:
                self.send_error(403, "no listing")
                return None

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.debug("data server: " + format, *args)

        try:
            self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve case data on {host}:{port}: {exc.strerror}") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="data-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def __enter__(self) -> DataServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class Materialised:
    path: Path
    fetched: bool
    linked: tuple[str, ...]

    def provenance(self, data: CaseData) -> dict[str, Any]:
        return {
            "source": data.url,
            "sha256": data.sha256,
            "cache": str(self.path),
            "fetched": self.fetched,
            "roots": list(data.roots),
        }


def materialise(data: CaseData, cache: Path) -> Materialised:
    """In a case Pod: the case data present and verified in ``cache`` (fetched by the first Pod on the node),
    and each root folder a link to its copy there. Raises ValueError saying what is wrong."""
    from controller.datasets.cache import DataCache
    from controller.datasets.provision import Request, provision
    from controller.errors import IanvsLabError

    dest = cache / f"{PREFIX}{data.sha256[:16]}"
    try:
        done = provision(
            Request(data.url, dest=dest, sha256=data.sha256, index=False, keep_archives=False),
            cache=DataCache(cache / ".archives"),
        )
    except (IanvsLabError, OSError) as exc:
        raise ValueError(f"case data from {data.url}: {exc}") from None
    linked = []
    for root in data.roots:
        target = done.path / root.lstrip("/")
        link = Path(root)
        if link.is_symlink() and os.readlink(link) == str(target):
            continue
        if link.exists() or link.is_symlink():
            raise ValueError(f"case data: {root} exists in the case Pod already; it cannot stand for the data")
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(target, target_is_directory=True)
        except FileExistsError:  # another runner in this filesystem linked it meanwhile
            if not (link.is_symlink() and os.readlink(link) == str(target)):
                raise ValueError(
                    f"case data: {root} exists in the case Pod already; it cannot stand for the data"
                ) from None
            continue
        linked.append(root)
    return Materialised(done.path, done.fetched, tuple(linked))

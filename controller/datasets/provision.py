"""Provisioning: make a dataset present and verified at a folder — download, verify, extract, index.

Flow for one request (a URL, a local archive or folder, or a catalog name)::

    resolve     source(s), expected sha256/size, layout, name         (catalog + user catalog; no I/O)
    present?    <dest>/.ianvs-lab-dataset.json matches the source/sha256 and the index files exist
                -> done, no network at all
    lock        <dest.parent>/.<dest.name>.lock   (a second process waits here, then finds it present)
    obtain      each archive: cached and verified in <cache>/<name>/archives, else downloaded under
                <cache>/.locks/<name>.lock (resumable, sha256 checked before the final rename);
                local archives are hashed in place, local folders are hard-linked
    extract     into a staging folder next to <dest> (safe extraction, bomb limits)
    index       layout detection + index files + generated trainId labels, inside the staging folder
    commit      manifest + marker written last, then one rename: <dest> is complete or absent

Free disk is checked before the download (announced size plus an extraction estimate) and again
before extraction (exact for zip). Messages never show credentials (``Source.display``).

Nothing here knows benchmark jobs: ``controller/testenv_dataset.py`` turns a testenv's
``dataset_url`` into a :class:`Request`.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from controller import fsio
from controller.datasets.cache import (
    DataCache,
    Marker,
    Part,
    cached_archive_sha256,
    combined_sha256,
    folder_lock,
    hold_lock,
    read_marker,
    record_archive,
    remove_archive,
    safe_name,
    write_manifest,
    write_marker,
)
from controller.datasets.catalog import Catalog, CatalogEntry
from controller.datasets.index import TEST_INDEX, TRAIN_INDEX
from controller.datasets.progress import human_bytes, make_progress
from controller.datasets.sources import Source, looks_like_url, parse_source
from controller.errors import DatasetError

if TYPE_CHECKING:
    from controller.datasets.download import RetryPolicy
    from controller.datasets.extract import ExtractLimits
    from controller.datasets.layouts import IndexResult

log = logging.getLogger(__name__)
progress_log = logging.getLogger("controller.progress")

EXTRACT_FACTOR = 1.2
"""extracted bytes ~= 1.2 x archive bytes when nothing better is known (images barely compress)"""
DISK_MARGIN = 64 << 20
_ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar", ".zip")


@dataclass(frozen=True)
class Request:
    """What a user asked for. ``source`` may hold secrets: it is kept out of ``repr``."""

    source: str = field(repr=False)
    dest: Path | None = None
    """dataset folder; None: ``<cache>/<name>/data``"""
    sha256: str | None = None
    size: int | None = None
    layout: str | None = None
    name: str | None = None
    from_: str | None = field(default=None, repr=False)
    """folder or URL holding a catalog entry's archives (overrides the entry's url)"""
    index: bool = True
    require_index: bool = False
    """fail (instead of warning) when no index can be generated"""
    train_index_name: str = TRAIN_INDEX
    test_index_name: str = TEST_INDEX
    """index files to write, by name inside the dataset folder (the marker records these names)"""
    tasks: str | None = None
    drop_test_cities: bool = False
    keep_archives: bool = True
    base: Path | None = None
    """folder that relative local sources are relative to (the testenv folder)"""


@dataclass(frozen=True)
class PlannedPart:
    source: Source
    file: str
    sha256: str | None
    size: int | None
    approx_size: int | None = None


@dataclass(frozen=True)
class Plan:
    name: str
    parts: tuple[PlannedPart, ...]
    layout: str | None
    extracted_size: int | None = None
    entry: CatalogEntry | None = None

    @property
    def display(self) -> str:
        return ", ".join(p.source.display for p in self.parts)


@dataclass(frozen=True)
class Provisioned:
    name: str
    path: Path
    marker: Marker
    train_index: Path | None
    test_index: Path | None
    """where the index files are (the request's names inside ``path``); None when none were written"""
    fetched: bool
    """False when the dataset was already present (no network, nothing written but last-used)"""


# --- resolving ----------------------------------------------------------------------------------


def _strip_archive_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in _ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _join(base: str, file: str) -> str:
    if looks_like_url(base):
        from urllib.parse import quote

        head, sep, query = base.partition("?")
        return f"{head.rstrip('/')}/{quote(file)}{sep}{query}"
    return str(Path(os.path.expanduser(base)) / file)


def resolve(request: Request, catalog: Catalog | None = None) -> Plan:
    """Turn a request into sources and expectations; no network. DatasetError names what is missing."""
    if request.sha256 is not None and not _is_sha256(request.sha256):
        raise DatasetError(f"--sha256: expected 64 hexadecimal digits, got {request.sha256!r}")
    text = request.source
    if not looks_like_url(text):
        catalog = catalog if catalog is not None else Catalog.load()
        entry = catalog.get(text)
        if entry is not None:
            return _from_catalog(request, entry)
        candidate = Path(os.path.expanduser(text))
        if not candidate.is_absolute():
            candidate = (request.base or Path.cwd()) / candidate
        if not candidate.exists():
            raise DatasetError(
                f"{text!r} is not a URL, not a catalog name (known: {', '.join(catalog.names())}) "
                f"and no such file or folder: {candidate}"
            )
    source = parse_source(text, request.base)
    name = safe_name(request.name or _strip_archive_suffix(source.filename))
    part = PlannedPart(source, source.filename, request.sha256, request.size)
    return Plan(name, (part,), request.layout)


def _from_catalog(request: Request, entry: CatalogEntry) -> Plan:
    base = request.from_ or entry.url
    if base is None:
        how = entry.login or "it has no download URL"
        raise DatasetError(f"dataset {entry.name!r} cannot be downloaded automatically: {how}")
    name = safe_name(request.name or entry.name)
    layout = request.layout or entry.layout
    if entry.files:
        parts = tuple(
            PlannedPart(parse_source(_join(base, f.file), request.base), f.file, f.sha256, f.size, f.approx_size)
            for f in entry.files
        )
    else:
        source = parse_source(base, request.base)
        sha = request.sha256 or entry.sha256
        parts = (PlannedPart(source, source.filename, sha, request.size or entry.size, entry.approx_size),)
    return Plan(name, parts, layout, entry.extracted_size, entry)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


# --- present? -----------------------------------------------------------------------------------


def _identity_matches(marker: Marker, plan: Plan) -> bool:
    """Same data: every archive's sha256 as expected when all are known, else the same sources."""
    if len(marker.parts) != len(plan.parts):
        return False
    by_file = {p.file: p for p in marker.parts}
    if all(p.sha256 for p in plan.parts):
        return all(
            p.sha256 is not None and p.file in by_file and by_file[p.file].sha256 == p.sha256.lower()
            for p in plan.parts
        )
    if marker.source != plan.display:
        return False
    return all(
        p.sha256 is None or (p.file in by_file and by_file[p.file].sha256 == p.sha256.lower()) for p in plan.parts
    )


def _index_options(request: Request, layout: str | None) -> dict[str, object]:
    return {
        "train": request.train_index_name,
        "test": request.test_index_name,
        "tasks": request.tasks,
        "drop_test_cities": request.drop_test_cities,
        "layout": layout,
    }


def _index_current(marker: Marker, dest: Path, request: Request, plan: Plan) -> bool:
    if not request.index:
        return True
    if marker.index.get("options") != _index_options(request, plan.layout):
        return False
    return (dest / request.train_index_name).is_file() and (dest / request.test_index_name).is_file()


def present(request: Request, plan: Plan, dest: Path) -> Marker | None:
    """The marker of ``dest`` when it holds this data with current index files; reads two small files."""
    marker = read_marker(dest)
    if marker is None or not _identity_matches(marker, plan):
        return None
    return marker if _index_current(marker, dest, request, plan) else None


def _result(plan: Plan, dest: Path, marker: Marker, fetched: bool) -> Provisioned:
    train = dest / marker.train_index if marker.train_index else None
    test = dest / marker.test_index if marker.test_index else None
    return Provisioned(plan.name, dest, marker, train, test, fetched)


# --- disk space ---------------------------------------------------------------------------------


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(_existing_ancestor(path)).free


def check_space(needs: dict[Path, int], what: str) -> None:
    """Raise when a filesystem lacks room; ``needs`` maps a folder to the bytes it must take."""
    per_device: dict[int, tuple[Path, int]] = {}
    for folder, n in needs.items():
        anchor = _existing_ancestor(folder)
        dev = os.stat(anchor).st_dev
        have = per_device.get(dev)
        per_device[dev] = (folder, n + (have[1] if have else 0))
    for folder, n in per_device.values():
        free = free_bytes(folder)
        if n + DISK_MARGIN > free:
            raise DatasetError(
                f"not enough free disk space for {what} in {_existing_ancestor(folder)}: "
                f"need about {human_bytes(n + DISK_MARGIN)}, {human_bytes(free)} free"
            )


# --- obtaining archives -------------------------------------------------------------------------


@dataclass
class _Obtained:
    part: PlannedPart
    path: Path
    sha256: str
    size: int
    is_folder: bool = False
    downloaded: bool = False


def _obtain(part: PlannedPart, plan: Plan, dest: Path, cache: DataCache, policy: RetryPolicy | None) -> _Obtained:
    from controller.datasets.download import check_sha256, download, sha256_of

    source = part.source
    if source.kind == "file":
        assert source.path is not None
        if source.path.is_dir():
            if part.sha256:
                raise DatasetError(f"{source.display}: sha256 applies to archives, not to folders")
            return _Obtained(part, source.path, "", 0, is_folder=True)
        progress_log.info("verifying %s", source.display)
        digest = sha256_of(source.path, progress=make_progress(f"sha256 {source.path.name}"))
        check_sha256(part.sha256, digest, source.display)
        return _Obtained(part, source.path, digest, source.path.stat().st_size)
    target = cache.archive_dir(plan.name) / part.file
    with hold_lock(cache.lock_path(plan.name), f"the download of {plan.name}"):
        cached = cached_archive_sha256(target, source=source.display, sha256=part.sha256, size=part.size)
        if cached is not None:
            log.info("%s: using the cached archive %s", source.display, target)
            return _Obtained(part, target, cached, target.stat().st_size)

        def before_body(remaining: int | None, total: int | None) -> None:
            known = total or part.size or part.approx_size or 0
            extract = plan.extracted_size or int(EXTRACT_FACTOR * known)
            check_space({target.parent: remaining or 0, dest.parent: extract}, plan.name)

        progress_log.info("downloading %s", source.display)
        got = download(
            source,
            target,
            sha256=part.sha256,
            size=part.size,
            policy=policy,
            progress=make_progress(part.file),
            before_body=before_body,
        )
        record_archive(target, got.sha256, source.display)
        progress_log.info(
            "downloaded %s (%s, sha256 %s%s)",
            part.file,
            human_bytes(got.size),
            got.sha256,
            f", resumed after {human_bytes(got.reused)}" if got.reused else "",
        )
        return _Obtained(part, target, got.sha256, got.size, downloaded=True)


def _unique_name(plan: Plan, cache: DataCache, explicit: bool) -> Plan:
    """Two different URLs ending in the same file name get different cache entries.

    The second one is named ``<name>-<first 8 hex of sha256(its redacted source)>``.
    """
    import hashlib

    entry = cache.load(plan.name)
    if explicit or plan.entry is not None or entry is None or entry.source == plan.display:
        return plan
    if all(p.sha256 for p in plan.parts) and [p.sha256 for p in entry.parts] == [p.sha256 for p in plan.parts]:
        return plan
    suffix = hashlib.sha256(plan.display.encode()).hexdigest()[:8]
    return replace(plan, name=f"{plan.name}-{suffix}")


# --- building the folder ------------------------------------------------------------------------


def _copy_tree(source: Path, target: Path) -> None:
    """Hard-link (else copy) a local dataset folder into ``target``; symlinked files are copied."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        here = target if rel == "." else target / rel
        here.mkdir(exist_ok=True)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            src = os.path.join(dirpath, name)
            if rel == "." and name.startswith(".ianvs-lab-"):
                continue
            try:
                if os.path.islink(src):
                    raise OSError("copy symlink targets")
                os.link(src, here / name)
            except OSError:
                shutil.copy2(src, here / name)


def _tree_digest(folder: Path) -> tuple[str, int]:
    """sha256 of the sorted "<size> <path>" listing of a folder (identity of a folder source)."""
    import hashlib

    rows = []
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rows.append((os.path.relpath(full, folder), os.path.getsize(full)))
    rows.sort()
    digest = hashlib.sha256("".join(f"{s} {p}\n" for p, s in rows).encode()).hexdigest()
    return digest, sum(s for _, s in rows)


def _extract_all(obtained: list[_Obtained], staging: Path, limits: ExtractLimits | None, what: str) -> None:
    from controller.datasets.extract import declared_size, extract_into

    for item in obtained:
        if item.is_folder:
            progress_log.info("linking %s into place", item.path)
            _copy_tree(item.path, staging)
            continue
        declared = declared_size(item.path)
        need = declared if declared is not None else int(EXTRACT_FACTOR * item.size)
        check_space({staging: need}, f"extracting {what}")
        progress_log.info("extracting %s (%s)", item.part.file, human_bytes(item.size))
        stats = extract_into(item.path, staging, limits)
        progress_log.info("extracted %d files, %s", stats.files, human_bytes(stats.bytes))


def _index(
    staging: Path, request: Request, plan: Plan, *, adopt_shipped: bool = True
) -> tuple[dict[str, object], str | None, str | None]:
    """Generate (or adopt the archive's own) index files inside ``staging``; returns (info, train, test)."""
    from controller.datasets.layouts import generate_index

    info: dict[str, object] = {"options": _index_options(request, plan.layout)}
    if not request.index:
        return info, None, None
    shipped = (staging / request.train_index_name).is_file() and (staging / request.test_index_name).is_file()
    if shipped and adopt_shipped:
        log.info(
            "using the index files shipped in the archive: %s, %s", request.train_index_name, request.test_index_name
        )
        info["shipped"] = True
        return info, request.train_index_name, request.test_index_name
    try:
        result: IndexResult = generate_index(
            staging,
            plan.layout,
            tasks=request.tasks,
            drop_test_cities=request.drop_test_cities,
            train_name=request.train_index_name,
            test_name=request.test_index_name,
        )
    except DatasetError as exc:
        if request.require_index:
            raise DatasetError(f"{plan.name}: cannot generate index files: {exc}") from None
        log.warning("%s: no index files written: %s", plan.name, exc)
        return info, None, None
    data = result.to_json()
    data["root"] = os.path.relpath(result.root, staging)
    for key in ("train_index", "test_index"):
        data.pop(key)
    info.update(data)
    progress_log.info(
        "indexed %s layout: %d train / %d test samples%s",
        result.layout,
        result.train_samples,
        result.test_samples,
        f", {result.generated_labels} trainId labels generated" if result.generated_labels else "",
    )
    return info, request.train_index_name, request.test_index_name


def _refuse_foreign(dest: Path) -> None:
    if dest.is_symlink() or dest.is_file():
        raise DatasetError(f"dataset path {dest} exists and is not a folder; choose another path")
    if dest.is_dir() and read_marker(dest) is None and any(dest.iterdir()):
        raise DatasetError(
            f"dataset path {dest} exists, is not empty and was not prepared by ianvs-lab (no .ianvs-lab-dataset.json); "
            "move it away or choose another dataset_path, or index it in place with "
            f"`controller dataset index {dest}` and set train_index/test_index"
        )


def _reindex(request: Request, plan: Plan, dest: Path, marker: Marker) -> Marker:
    """The data is right but the index options changed: rewrite index files in place (no network)."""
    info, train, test = _index(dest, request, plan, adopt_shipped=False)
    layout = str(info.get("layout") or plan.layout or marker.layout or "") or None
    marker = replace(marker, index=info, train_index=train, test_index=test, layout=layout)
    marker.files, marker.bytes = write_manifest(dest)
    write_marker(dest, marker)
    return marker


def provision(
    request: Request,
    *,
    cache: DataCache | None = None,
    catalog: Catalog | None = None,
    policy: RetryPolicy | None = None,
    limits: ExtractLimits | None = None,
) -> Provisioned:
    """Make the requested dataset present and verified; see the module doc for the steps."""
    cache = cache or DataCache()
    plan = _unique_name(resolve(request, catalog), cache, explicit=request.name is not None)
    dest = Path(os.path.normpath((request.dest or cache.data_dir(plan.name)).absolute()))
    marker = present(request, plan, dest)
    if marker is not None:
        cache.touch(plan.name)
        return _result(plan, dest, marker, fetched=False)
    with hold_lock(folder_lock(dest), str(dest)):
        marker = read_marker(dest)
        if marker is not None and _identity_matches(marker, plan):
            if not _index_current(marker, dest, request, plan):
                marker = _reindex(request, plan, dest, marker)
            cache.record(marker, dest)
            return _result(plan, dest, marker, fetched=False)
        _refuse_foreign(dest)
        for stale in fsio.remove_stale_staging(dest):
            log.info("removed %s left by an interrupted run", stale)
        obtained = [_obtain(part, plan, dest, cache, policy) for part in plan.parts]
        with fsio.staged_folder(dest) as stage:
            staging = stage.path
            _extract_all(obtained, staging, limits, plan.name)
            info, train, test = _index(staging, request, plan)
            parts = []
            for item in obtained:
                digest, size = (item.sha256, item.size) if not item.is_folder else _tree_digest(item.path)
                parts.append(Part(item.part.source.display, item.part.file, digest, size))
            layout = str(info.get("layout") or plan.layout or "") or None
            marker = Marker(
                plan.name,
                plan.display,
                combined_sha256(parts),
                sum(p.size for p in parts),
                layout,
                parts,
                train,
                test,
                index=info,
            )
            marker.files, marker.bytes = write_manifest(staging)
            write_marker(staging, marker)
            stage.commit()
        cache.record(marker, dest)
        if not request.keep_archives:
            for item in obtained:
                if item.downloaded:
                    remove_archive(item.path)
    progress_log.info("dataset %s ready at %s", plan.name, dest)
    return _result(plan, dest, marker, fetched=True)

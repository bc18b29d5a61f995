"""`controller dataset ...`: the dataset sub-commands (argument parsing stays import-cheap).

    pull SOURCE|NAME [--to PATH] [--sha256 HEX]   download/copy, verify, extract, index
    list                                          cached datasets: name, size, checksum, source, last used
    verify [NAME|PATH ...]                        re-check archives (sha256) and extracted files (sizes)
    index PATH [--layout L] [--tasks by-city|by-folder]   write index files for a folder in place
    info NAME|PATH                                catalog and cache facts about one dataset
    rm NAME                                       delete a cache entry (archives and cache-owned data)
    synth PATH                                    write the synthetic Cityscapes-format dataset
    sedna NAME|PATH --node NODE [--apply]         Sedna Dataset manifests for the dataset on a node

Every command but ``synth`` takes ``--cache DIR`` (default ``$IANVS_LAB_DATA_CACHE`` or
``${XDG_CACHE_HOME:-~/.cache}/ianvs-lab/datasets``) and ``--catalog FILE`` (a user catalog).
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from controller.cliargs import non_negative_int as _non_negative_int
from controller.cliargs import positive_float as _positive_float
from controller.cliargs import positive_int as _positive_int
from controller.cliargs import size as _size
from controller.datasets.index import TEST_INDEX, TRAIN_INDEX
from controller.errors import EXIT_BAD_INPUT, EXIT_CASE_FAILED, EXIT_OK, DatasetError

if TYPE_CHECKING:  # imported by the commands that need them: `controller --help` stays fast
    from controller.datasets.cache import DataCache
    from controller.datasets.catalog import Catalog

log = logging.getLogger("controller.cli")

_LAYOUTS = ("cityscapes", "ianvs-segmentation", "cloud-robotics", "flat")
_TASKS = ("by-city", "by-folder")


def _byte_count(text: str) -> int:
    """'123', '10k', '5M', '2GiB', '1T' (binary multiples) -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a byte count such as 512M or 2G, got {text!r}")
    return int(float(match[1]) * 1024 ** " kmgt".index(match[2] or " "))


def add_dataset_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dataset = commands.add_parser("dataset", help="dataset tools: pull, list, verify, index, info, rm, synth, sedna")
    actions = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="dataset cache folder (default: $IANVS_LAB_DATA_CACHE or ~/.cache/ianvs-lab/datasets)",
    )
    common.add_argument("--catalog", type=Path, metavar="FILE", help="user catalog merged over the built-in one")

    pull = actions.add_parser("pull", parents=[common], help="download (or copy), verify, extract and index a dataset")
    pull.add_argument(
        "source", metavar="URL|NAME|PATH", help="http(s)/s3/obs/file URL, catalog name or local archive/folder"
    )
    pull.add_argument("--to", type=Path, metavar="PATH", help="dataset folder (default: <cache>/<name>/data)")
    pull.add_argument("--sha256", metavar="HEX", help="expected sha256 of the archive")
    pull.add_argument("--size", type=_byte_count, metavar="BYTES", help="expected archive size")
    pull.add_argument("--name", help="cache entry name (default: catalog name or archive name)")
    pull.add_argument(
        "--from",
        dest="from_",
        metavar="DIR|URL",
        help="where a catalog entry's archives are (e.g. a local Cityscapes download)",
    )
    pull.add_argument("--layout", choices=_LAYOUTS, help="folder layout (default: detected)")
    pull.add_argument("--tasks", choices=_TASKS, help="group index lines task by task")
    pull.add_argument(
        "--drop-test-cities", action="store_true", help="leave out official Cityscapes test-split cities (dummy labels)"
    )
    pull.add_argument("--no-index", action="store_true", help="extract only, write no index files")
    pull.add_argument("--no-keep-archive", action="store_true", help="delete downloaded archives after extraction")
    pull.add_argument(
        "--retries",
        type=_non_negative_int,
        metavar="N",
        help="retries after failures that bring no new bytes, waiting 1, 2, 4, 8, 10, 10 ... s "
        "(default 5, or $IANVS_LAB_DOWNLOAD_RETRIES)",
    )
    pull.add_argument(
        "--max-ratio",
        type=_positive_float,
        metavar="R",
        help="archive-bomb bound: uncompressed/archive size (default 200)",
    )
    pull.add_argument(
        "--max-size",
        type=_byte_count,
        metavar="BYTES",
        help="archive-bomb bound: total uncompressed bytes (default 1T)",
    )

    actions.add_parser("list", parents=[common], help="cached datasets: name, size, checksum, source, last used")

    verify = actions.add_parser(
        "verify", parents=[common], help="re-check archives (sha256) and extracted files (sizes)"
    )
    verify.add_argument(
        "targets", nargs="*", metavar="NAME|PATH", help="cache entries or dataset folders (default: every entry)"
    )

    index = actions.add_parser("index", parents=[common], help="write train/test index files for a dataset folder")
    index.add_argument("path", type=Path)
    index.add_argument("--layout", choices=_LAYOUTS, help="folder layout (default: detected)")
    index.add_argument("--tasks", choices=_TASKS, help="group index lines task by task")
    index.add_argument(
        "--train-split", action="append", metavar="SPLIT", help="split folder(s) for the train index (repeatable)"
    )
    index.add_argument(
        "--test-split", action="append", metavar="SPLIT", help="split folder(s) for the test index (repeatable)"
    )
    index.add_argument(
        "--drop-test-cities", action="store_true", help="leave out official Cityscapes test-split cities (dummy labels)"
    )
    index.add_argument("--train-name", default=TRAIN_INDEX, metavar="FILE")
    index.add_argument("--test-name", default=TEST_INDEX, metavar="FILE")
    index.add_argument("--out", type=Path, metavar="DIR", help="folder for the index files (default: PATH)")

    info = actions.add_parser("info", parents=[common], help="catalog and cache facts about one dataset")
    info.add_argument("target", metavar="NAME|PATH")

    rm = actions.add_parser("rm", parents=[common], help="delete a cache entry (archives and cache-owned data)")
    rm.add_argument("names", nargs="+", metavar="NAME")

    sedna = actions.add_parser(
        "sedna",
        parents=[common],
        help="Sedna Dataset manifests (sedna.io/v1alpha1) for a dataset present on a node; --apply creates them",
    )
    sedna.add_argument("target", metavar="NAME|PATH", help="cache entry or dataset folder (with index files)")
    sedna.add_argument("--node", required=True, help="the Kubernetes node that holds the dataset (spec.nodeName)")
    sedna.add_argument(
        "--node-path",
        metavar="DIR",
        help="the dataset folder on that node (default: the same path as here, as in the kind lab)",
    )
    sedna.add_argument("--name", help="Dataset name prefix (default: the dataset's name); -train/-test are added")
    sedna.add_argument("--namespace", default="default", help="namespace of the Dataset objects (default: default)")
    sedna.add_argument("--split", choices=("train", "test"), action="append", help="only this split (repeatable)")
    sedna.add_argument("--out", type=Path, metavar="FILE", help="write the manifests here (default: print them)")
    sedna.add_argument("--apply", action="store_true", help="create or replace them in the cluster")
    sedna.add_argument("--kubeconfig", type=Path, metavar="FILE", help="for --apply (default: $KUBECONFIG)")
    sedna.add_argument("--context", metavar="NAME", help="kubeconfig context for --apply")

    synth = actions.add_parser("synth", help="write a small synthetic Cityscapes-format dataset with index files")
    synth.add_argument("path", type=Path, help="folder to create")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--train-per-city", type=_positive_int, default=16)
    synth.add_argument("--test-per-city", type=_positive_int, default=6)
    synth.add_argument("--size", type=_size, default=(256, 128), metavar="WxH", help="image size (default 256x128)")
    synth.add_argument("--overwrite", action="store_true", help="replace an existing dataset at PATH")


def run_dataset_command(args: argparse.Namespace) -> int:
    handlers = {
        "synth": _synth,
        "pull": _pull,
        "list": _list,
        "verify": _verify,
        "index": _index,
        "info": _info,
        "rm": _rm,
        "sedna": _sedna,
    }
    handler = handlers.get(args.dataset_command)
    return handler(args) if handler else EXIT_BAD_INPUT


def _cache(args: argparse.Namespace) -> DataCache:
    from controller.datasets.cache import DataCache

    return DataCache(args.cache.absolute() if args.cache else None)


def _catalog(args: argparse.Namespace) -> Catalog:
    from controller.datasets.catalog import Catalog

    return Catalog.load(args.catalog)


def _synth(args: argparse.Namespace) -> int:
    from controller.datasets.synth import synthesize

    manifest = synthesize(
        args.path.resolve(),
        train_per_city=args.train_per_city,
        test_per_city=args.test_per_city,
        size=args.size,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    log.info("wrote synthetic Cityscapes-format dataset to %s", manifest.root)
    print(manifest.train_index)
    print(manifest.test_index)
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    from controller.datasets.download import RetryPolicy
    from controller.datasets.extract import ExtractLimits
    from controller.datasets.provision import Request, provision

    defaults = ExtractLimits()
    limits = ExtractLimits(
        max_total_bytes=args.max_size if args.max_size is not None else defaults.max_total_bytes,
        max_ratio=args.max_ratio if args.max_ratio is not None else defaults.max_ratio,
    )
    request = Request(
        args.source,
        dest=args.to.absolute() if args.to else None,
        sha256=args.sha256,
        size=args.size,
        layout=args.layout,
        name=args.name,
        from_=args.from_,
        index=not args.no_index,
        tasks=args.tasks,
        drop_test_cities=args.drop_test_cities,
        keep_archives=not args.no_keep_archive,
    )
    result = provision(
        request,
        cache=_cache(args),
        catalog=_catalog(args),
        policy=RetryPolicy.from_settings(args.retries),
        limits=limits,
    )
    if not result.fetched:
        log.info("%s is already present at %s", result.name, result.path)
    print(result.path)
    for index in (result.train_index, result.test_index):
        if index is not None:
            print(index)
    return EXIT_OK


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


def _list(args: argparse.Namespace) -> int:
    from controller.datasets.progress import human_bytes

    cache = _cache(args)
    entries = cache.entries()
    if not entries:
        log.info("no datasets in %s", cache.root)
        return EXIT_OK
    rows = [["NAME", "SIZE", "SHA256", "SOURCE", "LAST USED", "COPIES"]]
    for e in entries:
        rows.append([e.name, human_bytes(e.size), e.sha256[:12], e.source, _when(e.last_used), str(len(e.copies))])
    from controller.report.table import plain_table

    print(plain_table(rows))
    return EXIT_OK


def _verify_folder(folder: Path) -> list[str]:
    from controller.datasets.cache import read_marker, verify_manifest

    if read_marker(folder) is None:
        return [f"{folder}: no dataset marker (.ianvs-lab-dataset.json)"]
    return verify_manifest(folder)


def _verify_entry(cache: DataCache, name: str) -> tuple[list[str], int]:
    from controller.datasets.download import sha256_of
    from controller.datasets.progress import make_progress

    entry = cache.load(name)
    if entry is None:
        return [f"no cache entry named {name!r} in {cache.root}"], 0
    problems: list[str] = []
    checked = 0
    for part in entry.parts:
        archive = cache.archive_dir(name) / part.file
        if archive.is_file():
            digest = sha256_of(archive, progress=make_progress(f"sha256 {part.file}"))
            checked += 1
            if digest != part.sha256:
                problems.append(f"{archive}: sha256 mismatch: expected {part.sha256}, got {digest}")
    for copy in entry.copies:
        problems += _verify_folder(Path(copy))
        checked += 1
    return problems, checked


def _verify(args: argparse.Namespace) -> int:
    cache = _cache(args)
    targets = args.targets or [e.name for e in cache.entries()]
    if not targets:
        log.info("no datasets in %s", cache.root)
        return EXIT_OK
    failed = 0
    for target in targets:
        path = Path(target)
        if cache.load(target) is None and path.is_dir():
            problems, checked = _verify_folder(path.absolute()), 1
        else:
            problems, checked = _verify_entry(cache, target)
        for problem in problems:
            log.error("%s", problem)
        if problems:
            failed += 1
        else:
            log.info("%s: ok (%d item%s checked)", target, checked, "s"[: checked != 1])
    return EXIT_CASE_FAILED if failed else EXIT_OK


def _index(args: argparse.Namespace) -> int:
    from controller.datasets.layouts import generate_index

    result = generate_index(
        args.path,
        args.layout,
        tasks=args.tasks,
        train_splits=args.train_split,
        test_splits=args.test_split,
        drop_test_cities=args.drop_test_cities,
        index_dir=args.out.absolute() if args.out else None,
        train_name=args.train_name,
        test_name=args.test_name,
    )
    log.info(
        "%s layout at %s: %d train / %d test samples%s",
        result.layout,
        result.root,
        result.train_samples,
        result.test_samples,
        f", {result.generated_labels} trainId labels generated" if result.generated_labels else "",
    )
    if result.tasks:
        log.info("train tasks (%s): %s", args.tasks, ", ".join(f"{t} {n}" for t, n in result.tasks.items()))
    print(result.train_index)
    print(result.test_index)
    return EXIT_OK


def _info(args: argparse.Namespace) -> int:
    from controller.datasets.cache import read_marker
    from controller.datasets.progress import human_bytes
    from controller.datasets.sources import redact_url

    cache = _cache(args)
    catalog = _catalog(args)
    lines: list[tuple[str, str]] = []
    entry = catalog.get(args.target)
    if entry is not None:
        lines += [("name", entry.name), ("title", entry.title), ("catalog", entry.origin)]
        lines.append(("url", redact_url(entry.url) if entry.url else "(none: see login)"))
        for f in entry.files:
            size = human_bytes(known) if (known := f.size or f.approx_size) else "?"
            lines.append(("file", f"{f.file} ({size}{', sha256 ' + f.sha256 if f.sha256 else ''})"))
        lines += [("sha256", entry.sha256 or "(not published)"), ("layout", entry.layout or "(detected)")]
        if entry.download_size:
            lines.append(("size", human_bytes(entry.download_size)))
        for key in ("homepage", "license", "login", "notes"):
            if getattr(entry, key):
                lines.append((key, getattr(entry, key)))
    cached = cache.load(args.target)
    if cached is not None:
        lines += [
            ("cached", str(cache.entry_dir(cached.name))),
            ("source", cached.source),
            ("archive sha256", cached.sha256),
            ("archive size", human_bytes(cached.size)),
            ("archives kept", human_bytes(cache.archive_bytes(cached.name))),
            ("last used", _when(cached.last_used)),
        ]
        lines += [("copy", c) for c in cached.copies]
    path = Path(args.target)
    marker = read_marker(path) if path.is_dir() else None
    if marker is not None:
        lines += [
            ("folder", str(path.absolute())),
            ("name", marker.name),
            ("source", marker.source),
            ("sha256", marker.sha256),
            ("layout", marker.layout or "?"),
            ("files", f"{marker.files} ({human_bytes(marker.bytes)})"),
            ("created", _when(marker.created)),
        ]
        for key in ("train_index", "test_index"):
            if getattr(marker, key):
                lines.append((key, str(path.absolute() / getattr(marker, key))))
    if not lines:
        raise DatasetError(
            f"{args.target!r}: not a catalog name ({', '.join(catalog.names())}), cache entry or dataset folder"
        )
    width = max(len(k) for k, _ in lines)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in lines))
    return EXIT_OK


def _rm(args: argparse.Namespace) -> int:
    cache = _cache(args)
    for name in args.names:
        outside = cache.remove(name)
        log.info("removed %s from %s", name, cache.root)
        for copy in outside:
            log.info("left in place (outside the cache; delete it yourself if unused): %s", copy)
    return EXIT_OK


def _dataset_folder(cache: DataCache, target: str) -> Path:
    """A cache entry's data folder, or the folder ``target`` names."""
    entry = cache.load(target)
    if entry is not None:
        for copy in [str(cache.data_dir(entry.name)), *entry.copies]:
            if Path(copy).is_dir():
                return Path(copy)
        raise DatasetError(f"cache entry {target!r} has no data folder left; pull it again")
    path = Path(target)
    if not path.is_dir():
        raise DatasetError(f"{target!r}: not a cache entry in {cache.root} or a dataset folder")
    return path


def _sedna(args: argparse.Namespace) -> int:
    from pathlib import PurePosixPath

    import yaml

    from controller.datasets.sedna import SPLITS, apply_manifests, dataset_manifests

    documents = dataset_manifests(
        _dataset_folder(_cache(args), args.target),
        node=args.node,
        node_folder=PurePosixPath(args.node_path) if args.node_path else None,
        name=args.name,
        namespace=args.namespace,
        splits=args.split or SPLITS,
    )
    text = yaml.safe_dump_all(documents, sort_keys=False)
    if args.out:
        from controller import fsio

        fsio.write_text(args.out, text)
        log.info("wrote %d Dataset manifest%s to %s", len(documents), "s"[: len(documents) != 1], args.out)
    if args.apply:
        apply_manifests(documents, args.kubeconfig, args.context)
    elif not args.out:
        print(text, end="")
    return EXIT_OK

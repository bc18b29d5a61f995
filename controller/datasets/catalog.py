"""The dataset catalog: names for the public data sets of the field, and a user file that overrides them.

The built-in catalog ships in the package (``catalog.yaml``). A user catalog — ``--catalog FILE``,
else ``$IANVS_LAB_CATALOG``, else ``${XDG_CONFIG_HOME:-~/.config}/ianvs-lab/catalog.yaml`` when it
exists — is merged over it key by key, so a lab without internet re-points every name at its mirror
with one line per data set::

    datasets:
      ianvs-semantic-segmentation: {url: "https://mirror.lab/ianvs/semantic_segmentation_dataset.zip"}
      cityscapes: {url: "file:///nfs/datasets/cityscapes-zips"}

Relative ``url`` paths in a user catalog are relative to that catalog file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config.yamlsource import KeyPath, YamlDocument, load_yaml
from controller.errors import ConfigError
from controller.userdirs import config_dir

BUILTIN = Path(__file__).with_name("catalog.yaml")
LAYOUT_NAMES = ("cityscapes", "ianvs-segmentation", "cloud-robotics", "flat")
_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TEXT_KEYS = ("title", "homepage", "license", "login", "notes")
_KNOWN_KEYS = frozenset({*_TEXT_KEYS, "url", "files", "sha256", "size", "approx_size", "extracted_size", "layout"})


@dataclass(frozen=True)
class CatalogFile:
    """One archive of a multi-archive entry (relative to the entry's ``url`` or ``--from``)."""

    file: str
    sha256: str | None = None
    size: int | None = None
    approx_size: int | None = None


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    title: str = ""
    url: str | None = field(default=None, repr=False)
    files: tuple[CatalogFile, ...] = ()
    sha256: str | None = None
    size: int | None = None
    approx_size: int | None = None
    extracted_size: int | None = None
    layout: str | None = None
    homepage: str = ""
    license: str = ""
    login: str = ""
    notes: str = ""
    origin: str = "built-in"
    """'built-in' or the user catalog file that (last) changed this entry"""

    @property
    def download_size(self) -> int | None:
        """Best known total archive size (exact, else approximate), for the free-disk check."""
        if self.files:
            sizes = [f.size or f.approx_size for f in self.files]
            return sum(s for s in sizes if s) or None
        return self.size or self.approx_size


def user_catalog_path(explicit: Path | None = None) -> Path | None:
    """The user catalog in effect: ``explicit``, ``$IANVS_LAB_CATALOG``, or the XDG default if present."""
    if explicit is not None:
        return explicit
    env = os.environ.get("IANVS_LAB_CATALOG")
    if env:
        return Path(os.path.expanduser(env))
    default = config_dir("catalog.yaml")
    return default if default.is_file() else None


class Catalog:
    def __init__(self, entries: dict[str, CatalogEntry]) -> None:
        self.entries = entries

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)

    def names(self) -> list[str]:
        return sorted(self.entries)

    @classmethod
    def load(cls, user: Path | None = None, *, include_user: bool = True) -> Catalog:
        """Built-in catalog merged with the user catalog (see the module doc)."""
        raw: dict[str, dict[str, Any]] = {}
        origins: dict[str, str] = {}
        _merge(raw, origins, load_yaml(BUILTIN, what="built-in dataset catalog"), "built-in")
        path = user_catalog_path(user) if include_user else None
        if path is not None:
            path = Path(os.path.abspath(path))
            _merge(raw, origins, load_yaml(path, what="user dataset catalog"), str(path))
        return cls({name: _entry(name, data, origins[name]) for name, data in raw.items()})


def _merge(raw: dict[str, dict[str, Any]], origins: dict[str, str], doc: YamlDocument, origin: str) -> None:
    data = doc.data if doc.data is not None else {"datasets": {}}
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise ConfigError("expected a mapping with the root key 'datasets' (name: {url: ...})", file=doc.path)
    for name, body in data["datasets"].items():
        keypath: KeyPath = ("datasets", name)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise doc.error(keypath, f"invalid dataset name {name!r}: use letters, digits, '.', '_', '-'")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise doc.error(keypath, "expected a mapping of dataset keys (url, sha256, layout, ...)")
        unknown = sorted(set(body) - _KNOWN_KEYS)
        if unknown:
            raise doc.error(keypath + (unknown[0],), f"unknown key; expected one of {', '.join(sorted(_KNOWN_KEYS))}")
        checked = _check(doc, keypath, body, origin)
        merged = dict(raw.get(name, {}))
        merged.update(checked)
        raw[name] = merged
        origins[name] = origin


def _check(doc: YamlDocument, keypath: KeyPath, body: dict[str, Any], origin: str) -> dict[str, Any]:
    out = dict(body)
    for key in _TEXT_KEYS:
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise doc.error(keypath + (key,), "expected text")
    for key in ("size", "approx_size", "extracted_size"):
        value = body.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise doc.error(keypath + (key,), f"expected a byte count (a non-negative integer), got {value!r}")
    sha = body.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA_RE.match(sha)):
        raise doc.error(keypath + ("sha256",), "expected 64 hexadecimal digits")
    layout = body.get("layout")
    if layout is not None and layout not in LAYOUT_NAMES:
        raise doc.error(keypath + ("layout",), f"unknown layout {layout!r}; expected one of {', '.join(LAYOUT_NAMES)}")
    url = body.get("url")
    if url is not None:
        if not isinstance(url, str) or not url:
            raise doc.error(keypath + ("url",), "expected a URL or a path")
        if origin != "built-in" and "://" not in url:
            out["url"] = str((doc.path.parent / os.path.expanduser(url)).absolute())
    if "files" in body:
        out["files"] = tuple(_file(doc, keypath + ("files", i), item) for i, item in enumerate(body["files"] or []))
    return out


def _file(doc: YamlDocument, keypath: KeyPath, item: Any) -> CatalogFile:
    if isinstance(item, str):
        item = {"file": item}
    if not isinstance(item, dict) or not isinstance(item.get("file"), str) or "/" in item["file"]:
        raise doc.error(keypath, "expected a file name or {file, sha256, size}")
    sha = item.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA_RE.match(sha)):
        raise doc.error(keypath + ("sha256",), "expected 64 hexadecimal digits")
    for key in ("size", "approx_size"):
        value = item.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise doc.error(keypath + (key,), "expected a byte count")
    return CatalogFile(item["file"], sha, item.get("size"), item.get("approx_size"))


def _entry(name: str, data: dict[str, Any], origin: str) -> CatalogEntry:
    fields = {k: v for k, v in data.items() if v is not None}
    for key in _TEXT_KEYS:
        if key in fields:
            fields[key] = " ".join(str(fields[key]).split()) if key != "title" else str(fields[key])
    return CatalogEntry(name=name, origin=origin, **fields)

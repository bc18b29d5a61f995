"""`third_party_packages` of algorithm.yaml: modules imported before the case runs."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def import_third_party(packages: Iterable[dict[str, Any]]) -> None:
    for package in packages:
        url = package.get("url")
        if url:
            folder = Path(url)
            folder = folder if folder.is_dir() else folder.parent
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
        importlib.import_module(package["name"])

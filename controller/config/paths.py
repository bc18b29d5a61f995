"""Path resolution: relative to the file that names the path, never the working directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

_VAR = re.compile(r"\$(\w+)|\$\{([^}]*)\}")


class UndefinedVariable(ValueError):
    pass


def expand(value: str) -> str:
    """Expand ``~`` and ``$VAR``/``${VAR}``; an undefined variable is an error, not an empty string."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise UndefinedVariable(f"environment variable ${name} is not set")
        return os.environ[name]

    return os.path.expanduser(_VAR.sub(substitute, value))


def resolve(value: str, base_dir: Path) -> Path:
    """`value` expanded and made absolute against `base_dir` (the folder of the naming file)."""
    path = Path(expand(value))
    # normpath, not resolve(): a symlinked data folder keeps the name the user gave it
    return Path(os.path.normpath(path if path.is_absolute() else base_dir / path))


def is_dotted_module(url: str) -> bool:
    """'package.module' names a Python module; anything with a slash or a .py suffix is a file."""
    return bool(re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", url)) and not url.endswith(".py")

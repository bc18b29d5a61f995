"""Where ianvs-lab keeps files per user, outside any checkout (the XDG base directories).

    config_dir("x.yaml")    ${XDG_CONFIG_HOME:-~/.config}/ianvs-lab/x.yaml        what the user writes (the dataset catalog)
    cache_dir("datasets")   ${XDG_CACHE_HOME:-~/.cache}/ianvs-lab/datasets        rebuildable: deleting it costs time only
    state_dir("labs")       ${XDG_STATE_HOME:-~/.local/state}/ianvs-lab/labs      what running labs need to be found again

Only the standard library is imported here: ``controller --help`` and the dataset commands use it.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "ianvs-lab"


def config_dir(*parts: str) -> Path:
    """``$XDG_CONFIG_HOME/ianvs-lab/<parts>`` (``~/.config`` when the variable is unset or empty)."""
    return _base("XDG_CONFIG_HOME", ".config").joinpath(APP, *parts)


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/ianvs-lab/<parts>`` (``~/.cache`` when the variable is unset or empty)."""
    return _base("XDG_CACHE_HOME", ".cache").joinpath(APP, *parts)


def state_dir(*parts: str) -> Path:
    """``$XDG_STATE_HOME/ianvs-lab/<parts>`` (``~/.local/state`` when the variable is unset or empty)."""
    return _base("XDG_STATE_HOME", ".local/state").joinpath(APP, *parts)


def _base(variable: str, default: str) -> Path:
    # the XDG specification: an unset or empty variable means the default; relative paths are not valid there
    # and are made absolute so that a later chdir cannot move the cache
    value = os.environ.get(variable) or str(Path.home() / default)
    return Path(os.path.expanduser(value)).absolute()

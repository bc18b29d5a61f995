"""Story manager (Ianvs's storymanager): the leaderboard (rank CSVs, markdown) and the self-contained HTML report.

- ``publish``: everything for one benchmarking job's stored results (what ``controller run``/``report`` call).
- ``rank``: the leaderboard CSVs (Ianvs columns), merged across runs; ``table``: plain text tables;
  ``markdown``: leaderboard.md; ``html`` + ``plots``: the report page and its figures.

It only reads `CaseResult` records; it never runs anything. This package is import-cheap: the
submodules (and matplotlib/jinja2 behind them) load only when one of the names below is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Leaderboard": "rank",
    "LeaderboardError": "rank",
    "update_leaderboard": "rank",
    "load_leaderboard": "rank",
    "format_table": "table",
    "write_markdown": "markdown",
    "write_html_report": "html",
    "matrix_heatmap": "plots",
    "task_curves": "plots",
    "per_class_bars": "plots",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Resolve a public name on first use (PEP 562) so `import controller.report` stays cheap."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

"""``<job_dir>/rank/leaderboard.md``: the leaderboard as a GitHub-markdown table, for docs and PRs.

Ianvs's leaderboards under docs/ are hand-written markdown; this writes the same kind of page
from the stored table so it can be pasted or committed as-is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controller.report.rank import RANK_DIR, Leaderboard, sort_legend, write_text_atomic
from controller.report.table import format_cell

MARKDOWN_FILE = "leaderboard.md"


def write_markdown(job_dir: Path, leaderboard: Leaderboard) -> Path:
    """Write the leaderboard's view (selected columns when computed) + a one-line sort legend; return the path."""
    job_dir = Path(job_dir)
    columns, rows = leaderboard.view()
    lines = [
        f"# Leaderboard: {_escape(job_dir.name)}",
        "",
        "| " + " | ".join(_escape(c) for c in columns) + " |",
        "|" + "|".join(_rule(c, rows) for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(_escape(format_cell(row.get(c))) for c in columns) + " |" for row in rows]
    lines += ["", sort_legend(leaderboard.sort_keys), ""]
    return write_text_atomic(job_dir / RANK_DIR / MARKDOWN_FILE, "\n".join(lines))


def _rule(column: str, rows: list[dict[str, Any]]) -> str:
    """``---:`` (right-aligned) for columns whose filled cells are all numbers, else ``---``."""
    values = [row.get(column) for row in rows if row.get(column) is not None]
    numeric = bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return "---:" if numeric else "---"


def _escape(text: str) -> str:
    """Keep a cell inside its column and inert: pipes escaped, backslashes doubled, ``<`` as ``&lt;`` (no raw HTML)."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")

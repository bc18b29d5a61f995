"""Plain-text and cell formatting shared by the CLI table, the markdown leaderboard and the HTML report.

No prettytable dependency: the layout is a bordered grid like Ianvs's ``print_table`` output.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

SIGNIFICANT_DIGITS = 4
ELLIPSIS = "…"
DEFAULT_MAX_WIDTH = 40


def format_number(value: float | numbers.Real, digits: int = SIGNIFICANT_DIGITS) -> str:
    """`value` rounded to `digits` significant digits, without an exponent for 1e-4 <= |value| < 1e6.

    decimals = max(0, digits - 1 - floor(log10 |value|)), then trailing zeros are dropped, so
    0.81234 -> "0.8123", 12.3456 -> "12.35", 1234.56 -> "1235", 0.5 -> "0.5"; outside that range
    an exponent keeps cells short (1.235e+06). Integers print exactly; NaN/inf print as "nan"/"inf"/"-inf".
    """
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")
    if number == 0:
        return "0"
    magnitude = abs(number)
    if 1e-4 <= magnitude < 1e6:
        decimals = max(0, digits - 1 - math.floor(math.log10(magnitude)))
        return _strip_zeros(f"{number:.{decimals}f}")
    mantissa, exponent = f"{number:.{digits - 1}e}".split("e")
    return f"{_strip_zeros(mantissa)}e{exponent}"


def _strip_zeros(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_cell(value: Any) -> str:
    """One table cell as text: None -> "", numbers via `format_number`, containers as JSON, on one line."""
    if value is None:
        return ""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return ""
        return format_number(value)
    if isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return " ".join(text.split())


def truncate(text: str, max_width: int) -> str:
    """`text` cut to `max_width` characters, the last one an ellipsis when anything was cut."""
    if max_width < 1:
        raise ValueError(f"max_width must be >= 1, got {max_width}")
    if len(text) <= max_width:
        return text
    return text[: max_width - 1] + ELLIPSIS


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def format_table(
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    max_width: int = DEFAULT_MAX_WIDTH,
) -> str:
    """An aligned, bordered plain-text table of `rows` (dicts; missing keys print empty).

    Cells longer than `max_width` (e.g. error messages, paths) are truncated with an ellipsis;
    headers are never truncated so every column stays identifiable. Numbers are right-aligned.
    """
    header = [str(c) for c in columns]
    body: list[list[tuple[str, bool]]] = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            cells.append((truncate(format_cell(value), max_width), _is_number(value)))
        body.append(cells)
    widths = [len(h) for h in header]
    for cells in body:
        for index, (text, _) in enumerate(cells):
            widths[index] = max(widths[index], len(text))
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    lines = [border, _line([(h, False) for h in header], widths), border]
    lines.extend(_line(cells, widths) for cells in body)
    if body:
        lines.append(border)
    return "\n".join(lines)


def plain_table(rows: Sequence[Sequence[str]]) -> str:
    """Borderless columns for the CLI's listings: each column as wide as its widest cell, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _line(cells: Sequence[tuple[str, bool]], widths: Sequence[int]) -> str:
    parts = [text.rjust(w) if numeric else text.ljust(w) for (text, numeric), w in zip(cells, widths)]
    return "| " + " | ".join(parts) + " |"

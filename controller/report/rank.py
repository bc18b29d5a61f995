"""The leaderboard: ``<job_dir>/rank/all_rank.csv`` and ``selected_rank.csv``, Ianvs-compatible.

Append-and-resort across runs: the table is the union of the rows already stored for the job and
the new results, where a new result REPLACES the stored row with the same ``case_id`` (a re-run or
resumed case never appears twice). The union is then sorted by ``rank.sort_keys`` (list order =
priority); missing/NaN values sort last whatever the direction and failed cases after all ok cases.

Column layout (Ianvs's order, then ours)::

    rank, algorithm, <metric>..., <efficiency>..., paradigm, <module type>..., <moduletype>-<hp>..., time, url,
    status, error, case_id

The efficiency columns (``CaseResult.efficiency``: wall_time_s, cpu_time_s, peak_rss_mib, ...) are metric columns
like the testenv's: ``sort_by`` and ``selected_dataitem.metrics`` name them the same way.

Reading a stored CSV recovers the column kinds from that layout: metrics sit between
``algorithm`` and ``paradigm``; between ``paradigm`` and ``time`` a name containing "-" is a
hyper-parameter, any other a module type.

With ``save_mode: selected_only`` no all_rank.csv is written, yet the next run must still see every
earlier row; the full table is then kept in the hidden ``rank/.all_rank.csv`` (same format). The
hidden file, when present, is the newest full table and is read first; a run that writes
all_rank.csv removes it.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from controller import fsio
from controller.config.rank import RankConfig
from controller.errors import IanvsLabError
from controller.results import CaseResult

log = logging.getLogger(__name__)

RANK_DIR = "rank"
ALL_RANK_FILE = "all_rank.csv"
SELECTED_RANK_FILE = "selected_rank.csv"
HIDDEN_ALL_RANK_FILE = ".all_rank.csv"
PICTURE_DIR = "output"

TAIL_COLUMNS = ("time", "url", "status", "error", "case_id")
SELECTED_TAIL_COLUMNS = ("time", "url", "status", "error")
RESERVED_COLUMNS = frozenset({"rank", "algorithm", "paradigm", *TAIL_COLUMNS})
ERROR_MAX_CHARS = 500
STATUS_OK = "ok"


class LeaderboardError(IanvsLabError):
    """A stored rank CSV cannot be read back (wrong header, malformed row) or is missing."""

    def __init__(self, message: str, *, file: str | Path, line: int | None = None) -> None:
        self.message = message
        self.file = str(file)
        self.line = line
        where = self.file if line is None else f"{self.file}:{line}"
        super().__init__(f"{where}: {message}")


@dataclass
class Leaderboard:
    """The sorted table (every column) plus its selected view.

    ``rows`` are dicts keyed by column name: ``rank`` is an int, metric cells are float or None
    (a non-numeric cell from a foreign CSV stays a string), all other cells are strings. A row
    lacks the keys of metrics/modules/hyper-parameters its case does not have.
    ``selected_rows`` are the same dict objects, filtered by paradigm; ``selected_columns`` names
    what selected_rank.csv shows. ``sort_keys`` are the keys actually applied.
    """

    columns: list[str]
    rows: list[dict[str, Any]]
    metric_columns: list[str] = field(default_factory=list)
    module_columns: list[str] = field(default_factory=list)
    hyperparameter_columns: list[str] = field(default_factory=list)
    selected_columns: list[str] = field(default_factory=list)
    selected_rows: list[dict[str, Any]] = field(default_factory=list)
    sort_keys: list[tuple[str, bool]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def view(self) -> tuple[list[str], list[dict[str, Any]]]:
        """What a human should see: the selected view when one was computed, else every column."""
        if self.selected_columns:
            return self.selected_columns, self.selected_rows
        return self.columns, self.rows


@dataclass
class _Table:
    """Rows plus the ordered column names of each kind, before ranking."""

    rows: list[dict[str, Any]]
    metrics: list[str]
    modules: list[str]
    hyperparameters: list[str]


# --------------------------------------------------------------------------------------------------
# public API


def update_leaderboard(job_dir: Path, results: list[CaseResult], rank: RankConfig) -> Leaderboard:
    """Merge `results` into the job's stored leaderboard, re-sort it and write the files `rank.save_mode` asks for."""
    job_dir = Path(job_dir)
    rank_dir = job_dir / RANK_DIR
    previous = _read_stored(rank_dir)
    table = _merge(previous, results)
    board = _rank(table, rank)
    board.paths = _save(rank_dir, board, rank, results)
    return board


def load_leaderboard(job_dir: Path, rank: RankConfig | None = None) -> Leaderboard:
    """The stored leaderboard of `job_dir`; with `rank`, re-sorted and with its selected view (nothing is written)."""
    rank_dir = Path(job_dir) / RANK_DIR
    stored = _read_stored(rank_dir)
    if stored is None:
        raise LeaderboardError(
            f"no leaderboard stored here; expected {ALL_RANK_FILE} or {HIDDEN_ALL_RANK_FILE}", file=rank_dir
        )
    if rank is None:
        return _leaderboard(stored, sort_keys=[])
    return _rank(stored, rank)


def write_text_atomic(path: Path, text: str) -> Path:
    """`fsio.write_text` into a folder created when missing: readers never see half a leaderboard."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return fsio.write_text(path, text)


def sort_legend(sort_keys: Sequence[tuple[str, bool]]) -> str:
    """One line saying how the rows are ordered, for the markdown and HTML outputs."""
    if not sort_keys:
        return "Order: as stored (no sort key matched a metric); failed cases last."
    keys = ", ".join(f"{metric} ({'ascending' if asc else 'descending'})" for metric, asc in sort_keys)
    return f"Sorted by {keys}; missing values last, failed cases after all ok cases."


# --------------------------------------------------------------------------------------------------
# rows from results


def result_row(result: CaseResult) -> dict[str, Any]:
    """The leaderboard row of one result (without ``rank``); list/matrix metrics are left out."""
    row: dict[str, Any] = {"algorithm": result.algorithm}
    for name, value in result.metrics.items():
        if name in RESERVED_COLUMNS:
            log.warning("case %s: metric %r clashes with a leaderboard column; left out", result.case_id, name)
            continue
        scalar = _scalar_metric(value)
        if scalar is not _NOT_SCALAR:
            row[name] = scalar
    # what the case cost: metric columns too (sort_by, selected_dataitem), after the testenv's own metrics
    for name, value in result.efficiency.items():
        if name in row or name in RESERVED_COLUMNS:
            log.warning("case %s: efficiency %r clashes with a metric or column; left out", result.case_id, name)
            continue
        scalar = _scalar_metric(value)
        if scalar is not _NOT_SCALAR:
            row[name] = scalar
    row["paradigm"] = result.paradigm
    for module_type, class_name in result.modules.items():
        if module_type in RESERVED_COLUMNS:
            log.warning(
                "case %s: module type %r clashes with a leaderboard column; left out", result.case_id, module_type
            )
            continue
        if "-" in module_type:
            log.warning(
                "case %s: module type %r contains '-'; it will read back as a hyper-parameter",
                result.case_id,
                module_type,
            )
        row[module_type] = str(class_name)
    for name, value in result.hyperparameters.items():
        if "-" not in name:
            log.warning(
                "case %s: hyper-parameter %r is not named <moduletype>-<hpname>; it will read back as a module column",
                result.case_id,
                name,
            )
        row[name] = hyperparameter_text(value)
    row["time"] = _local_time(result.finished)
    row["url"] = result.case_dir or ""
    row["status"] = result.status
    row["error"] = _truncated_error(result.error)
    row["case_id"] = result.case_id
    return row


_NOT_SCALAR = object()


def _scalar_metric(value: Any) -> Any:
    """float for a number, None for None/NaN/inf, `_NOT_SCALAR` for lists, matrices and other objects."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return _NOT_SCALAR


def hyperparameter_text(value: Any) -> str:
    """Hyper-parameter cell (CSV and report): strings as-is, everything else (numbers, bools, lists, dicts) as JSON."""
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, default=str)


def _local_time(stamp: str | None) -> str:
    """ISO finish time in the local time zone (seconds precision); naive stamps are taken as local."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.isoformat(timespec="seconds")


def _truncated_error(error: str | None) -> str:
    if not error:
        return ""
    text = " ".join(str(error).split())
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


# --------------------------------------------------------------------------------------------------
# merge, sort, select


def _merge(previous: _Table | None, results: Iterable[CaseResult]) -> _Table:
    """Union of stored rows and new rows; a new row replaces the stored one with its case_id, in place."""
    rows = list(previous.rows) if previous else []
    position = {row["case_id"]: i for i, row in enumerate(rows) if row.get("case_id")}
    metrics = list(previous.metrics) if previous else []
    modules = list(previous.modules) if previous else []
    hps = list(previous.hyperparameters) if previous else []
    for result in results:
        row = result_row(result)
        metrics.extend(k for k in [*result.metrics, *result.efficiency] if k in row)
        modules.extend(k for k in result.modules if k in row)
        hps.extend(result.hyperparameters)
        if result.case_id in position:
            rows[position[result.case_id]] = row
        else:
            position[result.case_id] = len(rows)
            rows.append(row)
    return _Table(rows, _present(metrics, rows), _present(modules, rows), _present(hps, rows))


def _present(names: Iterable[str], rows: Sequence[dict[str, Any]]) -> list[str]:
    """`names` de-duplicated in first-seen order, keeping only those some row still has."""
    return [name for name in dict.fromkeys(names) if any(name in row for row in rows)]


def _rank(table: _Table, rank: RankConfig) -> Leaderboard:
    keys = _effective_sort_keys(rank.sort_keys, table)
    sorted_table = _Table(_sort_rows(table.rows, keys), table.metrics, table.modules, table.hyperparameters)
    board = _leaderboard(sorted_table, sort_keys=keys)
    board.selected_columns, board.selected_rows = _select(board, rank)
    return board


def _leaderboard(table: _Table, sort_keys: list[tuple[str, bool]]) -> Leaderboard:
    for index, row in enumerate(table.rows, start=1):
        row["rank"] = index
    columns = [
        "rank",
        "algorithm",
        *table.metrics,
        "paradigm",
        *table.modules,
        *table.hyperparameters,
        *TAIL_COLUMNS,
    ]
    return Leaderboard(
        columns=columns,
        rows=[{c: row[c] for c in columns if c in row} for row in table.rows],
        metric_columns=list(table.metrics),
        module_columns=list(table.modules),
        hyperparameter_columns=list(table.hyperparameters),
        sort_keys=sort_keys,
    )


def _effective_sort_keys(keys: Sequence[tuple[str, bool]], table: _Table) -> list[tuple[str, bool]]:
    """The sort keys that name a metric some row has a value for; the others are skipped with a warning."""
    kept = []
    for metric, ascending in keys:
        if any(_sortable(row.get(metric)) for row in table.rows) and metric in table.metrics:
            kept.append((metric, ascending))
        else:
            log.warning("rank.sort_by: no case has a scalar value for metric %r; this sort key is skipped", metric)
    return kept


def _sortable(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _sort_rows(rows: Sequence[dict[str, Any]], keys: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
    """Multi-key stable sort: one pass per key from lowest to highest priority, then ok before failed.

    Each pass orders by (missing, v) ascending or (missing, -v) descending, so missing values are
    last in either direction; ties keep their previous (stored, then new) order.
    """
    ordered = list(rows)
    for metric, ascending in reversed(keys):

        def key(row: dict[str, Any], m: str = metric, a: bool = ascending) -> tuple[int, float]:
            return _metric_key(row.get(m), a)

        ordered.sort(key=key)
    ordered.sort(key=lambda row: row.get("status", STATUS_OK) != STATUS_OK)
    return ordered


def _metric_key(value: Any, ascending: bool) -> tuple[int, float]:
    if not _sortable(value):
        return (1, 0.0)
    number = float(value)
    return (0, number if ascending else -number)


def _select(board: Leaderboard, rank: RankConfig) -> tuple[list[str], list[dict[str, Any]]]:
    """selected_rank.csv's columns and rows; names not in the table become empty columns."""
    item = rank.selected_dataitem
    columns = [
        "rank",
        "algorithm",
        *_chosen(item.metrics, board.metric_columns),
        "paradigm",
        *_chosen(item.modules, board.module_columns),
        *_chosen(item.hyperparameters, board.hyperparameter_columns),
        *SELECTED_TAIL_COLUMNS,
    ]
    columns = list(dict.fromkeys(columns))
    if "all" in item.paradigms:
        rows = list(board.rows)
    else:
        wanted = set(item.paradigms)
        rows = [row for row in board.rows if row.get("paradigm") in wanted]
    return columns, rows


def _chosen(selected: Sequence[str], available: Sequence[str]) -> list[str]:
    if "all" in selected:
        return list(available)
    return [name for name in dict.fromkeys(selected) if name not in RESERVED_COLUMNS]


# --------------------------------------------------------------------------------------------------
# files


def _save(rank_dir: Path, board: Leaderboard, rank: RankConfig, results: Sequence[CaseResult]) -> list[Path]:
    paths: list[Path] = []
    full_csv = _csv_text(board.columns, board.rows)
    if rank.save_mode == "selected_only":
        paths.append(write_text_atomic(rank_dir / HIDDEN_ALL_RANK_FILE, full_csv))
    else:
        paths.append(write_text_atomic(rank_dir / ALL_RANK_FILE, full_csv))
        (rank_dir / HIDDEN_ALL_RANK_FILE).unlink(missing_ok=True)
    paths.append(
        write_text_atomic(rank_dir / SELECTED_RANK_FILE, _csv_text(board.selected_columns, board.selected_rows))
    )
    if rank.save_mode == "selected_and_all_and_picture":
        paths.extend(_draw_heatmaps(results))
    return paths


def _draw_heatmaps(results: Sequence[CaseResult]) -> list[Path]:
    """``<case_dir>/output/<metric>-heatmap.png`` for every new result that has an accuracy matrix."""
    from controller.report import plots

    paths = []
    for result in results:
        if result.matrix is None:
            continue
        if not result.case_dir:
            log.warning("case %s has an accuracy matrix but no case_dir; heatmap not drawn", result.case_id)
            continue
        target = Path(result.case_dir) / PICTURE_DIR / plots.heatmap_filename(result.matrix.metric)
        try:
            paths.append(plots.matrix_heatmap(result.matrix, target))
        except ValueError as exc:
            log.warning("case %s: heatmap not drawn: %s", result.case_id, exc)
    return paths


def _csv_text(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    """Full precision for floats (repr round-trips), empty for None/NaN."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def _read_stored(rank_dir: Path) -> _Table | None:
    """The newest full table stored in `rank_dir` (hidden file first), or None when there is none."""
    for name in (HIDDEN_ALL_RANK_FILE, ALL_RANK_FILE):
        path = rank_dir / name
        if path.is_file():
            return _read_csv(path)
    return None


_REQUIRED = ("algorithm", "paradigm", "time")


def _read_csv(path: Path) -> _Table:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise LeaderboardError("empty file; expected a header row starting with rank,algorithm", file=path, line=1)
        metrics, modules, hps = _column_kinds(header, path)
        rows = []
        for cells in reader:
            if not any(cells):
                continue
            if len(cells) > len(header):
                raise LeaderboardError(
                    f"row has {len(cells)} fields but the header has {len(header)}", file=path, line=reader.line_num
                )
            record = dict(zip(header, cells))
            rows.append(_stored_row(record, metrics))
    return _Table(rows, _present(metrics, rows), _present(modules, rows), _present(hps, rows))


def _column_kinds(header: list[str], path: Path) -> tuple[list[str], list[str], list[str]]:
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise LeaderboardError(
            f"header lacks column(s) {', '.join(missing)}; expected rank, algorithm, <metrics>, paradigm, "
            "<modules>, <hyper-parameters>, time, url",
            file=path,
            line=1,
        )
    algorithm, paradigm, time = (header.index(name) for name in _REQUIRED)
    if not algorithm < paradigm < time:
        raise LeaderboardError(
            "columns out of order; expected algorithm before paradigm before time", file=path, line=1
        )
    middle = header[paradigm + 1 : time]
    extra = [c for c in header[time + 1 :] if c not in TAIL_COLUMNS]
    if extra:
        log.warning("%s: unknown column(s) %s after 'time' are dropped", path, ", ".join(extra))
    return (
        header[algorithm + 1 : paradigm],
        [c for c in middle if "-" not in c],
        [c for c in middle if "-" in c],
    )


_KEEP_KEYS = frozenset({"algorithm", "paradigm", *TAIL_COLUMNS})


def _stored_row(record: dict[str, str], metrics: Sequence[str]) -> dict[str, Any]:
    """A CSV record as a row: empty cells are absent keys, metric cells numbers when they parse."""
    metric_set = set(metrics)
    row: dict[str, Any] = {}
    for column, text in record.items():
        if column == "rank":
            continue
        if column in metric_set:
            if text != "":
                row[column] = _parse_metric(text)
        elif column in _KEEP_KEYS or text != "":
            row[column] = text
    row.setdefault("status", STATUS_OK)
    for column in TAIL_COLUMNS:
        row.setdefault(column, "")
    row["status"] = row["status"] or STATUS_OK
    return row


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def _parse_metric(text: str) -> Any:
    """float for a number, None for NaN/inf, the text itself otherwise (e.g. a matrix repr from Ianvs)."""
    stripped = text.strip()
    if not _NUMBER.match(stripped):
        return text
    number = float(stripped)
    return number if math.isfinite(number) else None

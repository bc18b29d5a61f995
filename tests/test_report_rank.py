"""Leaderboard (rank CSVs), plain-text table and markdown: the story manager's tabular outputs."""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Any

import pytest

from controller.config.rank import RankConfig
from controller.report.markdown import write_markdown
from controller.report.rank import LeaderboardError, load_leaderboard, update_leaderboard
from controller.report.table import format_number, format_table
from controller.results import AccuracyMatrix, CaseResult


def make_result(case_id: str, **overrides: Any) -> CaseResult:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "benchmarking_job": "job",
        "algorithm": f"algo-{case_id}",
        "paradigm": "lifelonglearning",
        "modules": {"basemodel": "RFNet"},
        "hyperparameters": {"basemodel-learning_rate": 0.001},
        "status": "ok",
        "metrics": {"accuracy": 0.5},
    }
    fields.update(overrides)
    return CaseResult(**fields)


def rank_config(**kwargs: Any) -> RankConfig:
    return RankConfig(**kwargs)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def case_ids(path: Path) -> list[str]:
    return [row["case_id"] for row in read_csv(path)[1]]


ALL = Path("rank/all_rank.csv")
SELECTED = Path("rank/selected_rank.csv")


# ------------------------------------------------------------------------------------- all_rank.csv


def test_all_rank_columns_follow_ianvs_order_then_ours(tmp_path: Path) -> None:
    result = make_result(
        "c1",
        metrics={"accuracy": 0.8, "BWT": -0.1},
        modules={"basemodel": "RFNet", "task_definition": "TaskDefByDomain"},
        hyperparameters={"basemodel-learning_rate": 0.001, "task_definition-origins": ["real", "sim"]},
    )
    update_leaderboard(tmp_path, [result], rank_config())
    header, _ = read_csv(tmp_path / ALL)
    assert header == [
        "rank",
        "algorithm",
        "accuracy",
        "BWT",
        "paradigm",
        "basemodel",
        "task_definition",
        "basemodel-learning_rate",
        "task_definition-origins",
        "time",
        "url",
        "status",
        "error",
        "case_id",
    ]


def test_matrix_valued_metric_is_not_a_csv_column(tmp_path: Path) -> None:
    result = make_result("c1", metrics={"accuracy": 0.8, "matrix": [[0.1, 0.2], [0.3, 0.4]]})
    board = update_leaderboard(tmp_path, [result], rank_config())
    header, _ = read_csv(tmp_path / ALL)
    assert "matrix" not in header
    assert board.metric_columns == ["accuracy"]


def test_row_cells_hold_names_values_and_case_facts(tmp_path: Path) -> None:
    result = make_result(
        "c1",
        algorithm="rfnet_lifelong",
        metrics={"accuracy": 0.8125},
        case_dir="/ws/job/rfnet_lifelong/c1",
    )
    update_leaderboard(tmp_path, [result], rank_config())
    row = read_csv(tmp_path / ALL)[1][0]
    assert {
        k: row[k] for k in ("rank", "algorithm", "accuracy", "paradigm", "basemodel", "url", "status", "case_id")
    } == {
        "rank": "1",
        "algorithm": "rfnet_lifelong",
        "accuracy": "0.8125",
        "paradigm": "lifelonglearning",
        "basemodel": "RFNet",
        "url": "/ws/job/rfnet_lifelong/c1",
        "status": "ok",
        "case_id": "c1",
    }


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (0.001, "0.001"),
        (4, "4"),
        (True, "true"),
        ("mobilenet", "mobilenet"),
        ([1, 2], "[1, 2]"),
        ({"a": 1}, '{"a": 1}'),
    ],
)
def test_hyperparameter_cells_are_strings_or_json(tmp_path: Path, value: Any, cell: str) -> None:
    update_leaderboard(tmp_path, [make_result("c1", hyperparameters={"basemodel-x": value})], rank_config())
    assert read_csv(tmp_path / ALL)[1][0]["basemodel-x"] == cell


def test_time_is_finish_time_in_local_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")  # UTC+8, no DST
    time.tzset()
    try:
        update_leaderboard(tmp_path, [make_result("c1", finished="2024-05-01T10:00:00+00:00")], rank_config())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert read_csv(tmp_path / ALL)[1][0]["time"] == "2024-05-01T18:00:00+08:00"


def test_failed_case_error_is_one_line(tmp_path: Path) -> None:
    failed = make_result("c1", status="failed", metrics={}, error="Traceback:\n  boom\n\tValueError: bad")
    update_leaderboard(tmp_path, [failed], rank_config())
    row = read_csv(tmp_path / ALL)[1][0]
    assert (row["status"], row["error"]) == ("failed", "Traceback: boom ValueError: bad")


def test_no_temporary_files_are_left_in_rank_dir(tmp_path: Path) -> None:
    update_leaderboard(tmp_path, [make_result("c1")], rank_config())
    assert sorted(p.name for p in (tmp_path / "rank").iterdir()) == ["all_rank.csv", "selected_rank.csv"]


# ------------------------------------------------------------------------------ append and replace


def test_second_run_appends_its_rows_to_the_first(tmp_path: Path) -> None:
    rank = rank_config(sort_by=[{"accuracy": "descend"}])
    update_leaderboard(tmp_path, [make_result("a", metrics={"accuracy": 0.5})], rank)
    board = update_leaderboard(tmp_path, [make_result("b", metrics={"accuracy": 0.7})], rank)
    assert case_ids(tmp_path / ALL) == ["b", "a"]
    assert [row["rank"] for row in board.rows] == [1, 2]


def test_stored_metrics_sort_as_numbers_not_text(tmp_path: Path) -> None:
    rank = rank_config(sort_by=[{"accuracy": "descend"}])
    update_leaderboard(tmp_path, [make_result("nine", metrics={"accuracy": 9.0})], rank)
    update_leaderboard(tmp_path, [make_result("ten", metrics={"accuracy": 10.0})], rank)
    assert case_ids(tmp_path / ALL) == ["ten", "nine"]


def test_new_result_replaces_the_row_with_its_case_id(tmp_path: Path) -> None:
    rank = rank_config(sort_by=[{"accuracy": "descend"}])
    first = [make_result("a", metrics={"accuracy": 0.5}), make_result("b", metrics={"accuracy": 0.7})]
    update_leaderboard(tmp_path, first, rank)
    update_leaderboard(tmp_path, [make_result("a", metrics={"accuracy": 0.9})], rank)
    _, rows = read_csv(tmp_path / ALL)
    assert [(r["case_id"], r["accuracy"]) for r in rows] == [("a", "0.9"), ("b", "0.7")]


def test_resumed_failed_case_becomes_ok_without_a_duplicate(tmp_path: Path) -> None:
    rank = rank_config()
    update_leaderboard(tmp_path, [make_result("a", status="failed", metrics={}, error="OOM")], rank)
    update_leaderboard(tmp_path, [make_result("a", metrics={"accuracy": 0.6})], rank)
    _, rows = read_csv(tmp_path / ALL)
    assert [(r["case_id"], r["status"], r["error"]) for r in rows] == [("a", "ok", "")]


def test_metric_column_dropped_when_no_row_has_it_any_more(tmp_path: Path) -> None:
    update_leaderboard(tmp_path, [make_result("a", metrics={"old_name": 0.5})], rank_config())
    update_leaderboard(tmp_path, [make_result("a", metrics={"accuracy": 0.5})], rank_config())
    header, _ = read_csv(tmp_path / ALL)
    assert "old_name" not in header and "accuracy" in header


def test_ianvs_csv_without_our_columns_is_extended(tmp_path: Path) -> None:
    (tmp_path / "rank").mkdir()
    (tmp_path / ALL).write_text(
        "rank,algorithm,accuracy,paradigm,basemodel,basemodel-learning_rate,time,url\n"
        "1,ianvs_algo,0.6,lifelonglearning,BaseModel,0.1,2023-01-01 10:00:00,/old/case\n"
    )
    rank = rank_config(sort_by=[{"accuracy": "descend"}])
    update_leaderboard(tmp_path, [make_result("new", metrics={"accuracy": 0.7})], rank)
    _, rows = read_csv(tmp_path / ALL)
    assert [(r["algorithm"], r["status"], r["case_id"]) for r in rows] == [
        ("algo-new", "ok", "new"),
        ("ianvs_algo", "ok", ""),
    ]


# ------------------------------------------------------------------------------------------- sorting

# Given to update_leaderboard in the order E, D, C, A, B; A and B tie on accuracy.
SORT_CASES = {
    "A": {"metrics": {"accuracy": 0.8, "BWT": -0.1}},
    "B": {"metrics": {"accuracy": 0.8, "BWT": 0.2}},
    "C": {"metrics": {"accuracy": 0.6, "BWT": 0.0}},
    "D": {"metrics": {"accuracy": math.nan, "BWT": 0.5}},
    "E": {"metrics": {"accuracy": 0.9}, "status": "failed", "error": "crashed in round 3"},
}


@pytest.mark.parametrize(
    ("sort_by", "expected"),
    [
        ([{"accuracy": "descend"}], ["A", "B", "C", "D", "E"]),
        ([{"accuracy": "ascend"}], ["C", "A", "B", "D", "E"]),
        ([{"accuracy": "descend"}, {"BWT": "descend"}], ["B", "A", "C", "D", "E"]),
        ([{"accuracy": "ascend"}, {"BWT": "descend"}], ["C", "B", "A", "D", "E"]),
        ([{"BWT": "ascend"}], ["A", "C", "B", "D", "E"]),
        ([{"BWT": "descend"}], ["D", "B", "C", "A", "E"]),
        ([], ["D", "C", "A", "B", "E"]),
    ],
    ids=["acc-desc", "acc-asc", "acc-desc-bwt-desc", "acc-asc-bwt-desc", "bwt-asc", "bwt-desc", "unsorted"],
)
def test_multi_key_sort_puts_missing_and_failed_last(
    tmp_path: Path, sort_by: list[dict[str, str]], expected: list[str]
) -> None:
    results = [make_result(cid, **SORT_CASES[cid]) for cid in ["E", "D", "C", "A", "B"]]
    board = update_leaderboard(tmp_path, results, rank_config(sort_by=sort_by))
    assert [row["case_id"] for row in board.rows] == expected
    assert case_ids(tmp_path / ALL) == expected
    assert [row["rank"] for row in board.rows] == [1, 2, 3, 4, 5]


def test_sort_key_for_unknown_metric_is_skipped_with_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    results = [make_result("a", metrics={"accuracy": 0.2}), make_result("b", metrics={"accuracy": 0.9})]
    with caplog.at_level(logging.WARNING, logger="controller.report.rank"):
        board = update_leaderboard(
            tmp_path, results, rank_config(sort_by=[{"FWT": "descend"}, {"accuracy": "descend"}])
        )
    assert [row["case_id"] for row in board.rows] == ["b", "a"]
    assert board.sort_keys == [("accuracy", False)]
    assert "'FWT'" in caplog.text


# -------------------------------------------------------------------------------- selected_rank.csv


def two_module_result(case_id: str = "c1", paradigm: str = "lifelonglearning") -> CaseResult:
    return make_result(
        case_id,
        paradigm=paradigm,
        metrics={"accuracy": 0.8, "BWT": -0.1},
        modules={"basemodel": "RFNet", "task_definition": "TaskDefByDomain"},
        hyperparameters={"basemodel-learning_rate": 0.001, "task_definition-origins": "real"},
    )


def test_selected_columns_keep_fixed_ones_and_add_missing_names_empty(tmp_path: Path) -> None:
    rank = rank_config(
        selected_dataitem={
            "metrics": ["BWT", "FWT"],
            "modules": ["basemodel"],
            "hyperparameters": ["basemodel-learning_rate", "basemodel-momentum"],
        }
    )
    update_leaderboard(tmp_path, [two_module_result()], rank)
    header, rows = read_csv(tmp_path / SELECTED)
    assert header == [
        "rank",
        "algorithm",
        "BWT",
        "FWT",
        "paradigm",
        "basemodel",
        "basemodel-learning_rate",
        "basemodel-momentum",
        "time",
        "url",
        "status",
        "error",
    ]
    assert (rows[0]["BWT"], rows[0]["FWT"], rows[0]["basemodel-momentum"]) == ("-0.1", "", "")


def test_selected_all_keeps_every_column_but_case_id(tmp_path: Path) -> None:
    update_leaderboard(tmp_path, [two_module_result()], rank_config())
    all_header, _ = read_csv(tmp_path / ALL)
    selected_header, _ = read_csv(tmp_path / SELECTED)
    assert selected_header == [c for c in all_header if c != "case_id"]


def test_selected_rows_are_filtered_by_paradigm(tmp_path: Path) -> None:
    results = [two_module_result("ll", "lifelonglearning"), two_module_result("inc", "incrementallearning")]
    rank = rank_config(selected_dataitem={"paradigms": ["incrementallearning"]})
    board = update_leaderboard(tmp_path, results, rank)
    _, rows = read_csv(tmp_path / SELECTED)
    assert [r["paradigm"] for r in rows] == ["incrementallearning"]
    assert len(board.rows) == 2


def matrix_result(case_id: str, case_dir: Path) -> CaseResult:
    matrix = AccuracyMatrix(metric="accuracy", tasks=["t1", "t2"], values=[[0.5, 0.1], [0.4, 0.6]], baseline=[0.1, 0.1])
    return make_result(case_id, matrix=matrix, case_dir=str(case_dir))


@pytest.mark.parametrize(
    ("save_mode", "rank_files", "picture"),
    [
        ("selected_only", [".all_rank.csv", "selected_rank.csv"], False),
        ("selected_and_all", ["all_rank.csv", "selected_rank.csv"], False),
        ("selected_and_all_and_picture", ["all_rank.csv", "selected_rank.csv"], True),
    ],
)
def test_save_mode_decides_which_files_are_written(
    tmp_path: Path, save_mode: str, rank_files: list[str], picture: bool
) -> None:
    case_dir = tmp_path / "algo" / "c1"
    board = update_leaderboard(tmp_path, [matrix_result("c1", case_dir)], rank_config(save_mode=save_mode))
    heatmap = case_dir / "output" / "accuracy-heatmap.png"
    assert sorted(p.name for p in (tmp_path / "rank").iterdir()) == rank_files
    assert heatmap.is_file() is picture
    assert (heatmap in board.paths) is picture


def test_selected_only_still_accumulates_across_runs(tmp_path: Path) -> None:
    rank = rank_config(save_mode="selected_only", sort_by=[{"accuracy": "ascend"}])
    update_leaderboard(tmp_path, [make_result("a", metrics={"accuracy": 0.5})], rank)
    update_leaderboard(tmp_path, [make_result("b", metrics={"accuracy": 0.4})], rank)
    _, rows = read_csv(tmp_path / SELECTED)
    assert [r["algorithm"] for r in rows] == ["algo-b", "algo-a"]


def test_switching_save_mode_between_runs_loses_no_row(tmp_path: Path) -> None:
    for case_id, mode in [("a", "selected_and_all"), ("b", "selected_only"), ("c", "selected_and_all")]:
        update_leaderboard(tmp_path, [make_result(case_id)], rank_config(save_mode=mode))
    assert case_ids(tmp_path / ALL) == ["a", "b", "c"]
    assert not (tmp_path / "rank" / ".all_rank.csv").exists()


# ------------------------------------------------------------------------------------ load_leaderboard


def test_load_leaderboard_reads_back_typed_rows(tmp_path: Path) -> None:
    written = update_leaderboard(tmp_path, [two_module_result()], rank_config())
    loaded = load_leaderboard(tmp_path)
    assert loaded.columns == written.columns
    assert loaded.rows == written.rows
    assert (loaded.metric_columns, loaded.module_columns, loaded.hyperparameter_columns) == (
        ["accuracy", "BWT"],
        ["basemodel", "task_definition"],
        ["basemodel-learning_rate", "task_definition-origins"],
    )


def test_load_leaderboard_without_files_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(LeaderboardError, match="all_rank.csv"):
        load_leaderboard(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rank,algorithm,accuracy,time,url\n", r"all_rank\.csv:1: header lacks column\(s\) paradigm"),
        ("rank,algorithm,paradigm,time\n1,a,p,t\n2,b,p,t,extra\n", r"all_rank\.csv:3: row has 5 fields"),
        ("rank,time,paradigm,algorithm\n", r"all_rank\.csv:1: columns out of order"),
    ],
    ids=["missing-paradigm", "extra-field", "out-of-order"],
)
def test_malformed_stored_csv_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "rank").mkdir()
    (tmp_path / ALL).write_text(content)
    with pytest.raises(LeaderboardError, match=message):
        update_leaderboard(tmp_path, [make_result("c1")], rank_config())


# ------------------------------------------------------------------------------------------ table.py


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.81234, "0.8123"),
        (12.3456, "12.35"),
        (1234.56, "1235"),
        (0.5, "0.5"),
        (-0.0123456, "-0.01235"),
        (1234567.0, "1.235e+06"),
        (3, "3"),
        (0.0, "0"),
    ],
)
def test_numbers_print_with_four_significant_digits(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_table_aligns_numbers_right_and_text_left() -> None:
    rows = [{"rank": 1, "algorithm": "rfnet", "accuracy": 0.81234}, {"rank": 2, "algorithm": "fcn", "accuracy": None}]
    assert format_table(["rank", "algorithm", "accuracy"], rows) == "\n".join(
        [
            "+------+-----------+----------+",
            "| rank | algorithm | accuracy |",
            "+------+-----------+----------+",
            "|    1 | rfnet     |   0.8123 |",
            "|    2 | fcn       |          |",
            "+------+-----------+----------+",
        ]
    )


def test_format_table_truncates_long_cells_with_ellipsis() -> None:
    table = format_table(["error"], [{"error": "x" * 30}], max_width=10)
    assert "| xxxxxxxxx… |" in table.splitlines()


# --------------------------------------------------------------------------------------- markdown.py


def test_markdown_leaderboard_is_a_table_with_sort_legend(tmp_path: Path) -> None:
    rank = rank_config(
        sort_by=[{"accuracy": "descend"}],
        selected_dataitem={"metrics": ["accuracy"], "modules": [], "hyperparameters": []},
    )
    results = [
        make_result("a", algorithm="rfnet", metrics={"accuracy": 0.81234}),
        make_result("b", algorithm="bad|algo", status="failed", metrics={}, error="<b>boom</b>"),
    ]
    board = update_leaderboard(tmp_path / "myjob", results, rank)
    path = write_markdown(tmp_path / "myjob", board)
    assert path == tmp_path / "myjob" / "rank" / "leaderboard.md"
    assert path.read_text() == "\n".join(
        [
            "# Leaderboard: myjob",
            "",
            "| rank | algorithm | accuracy | paradigm | time | url | status | error |",
            "|---:|---|---:|---|---|---|---|---|",
            "| 1 | rfnet | 0.8123 | lifelonglearning |  |  | ok |  |",
            "| 2 | bad\\|algo |  | lifelonglearning |  |  | failed | &lt;b>boom&lt;/b> |",
            "",
            "Sorted by accuracy (descending); missing values last, failed cases after all ok cases.",
            "",
        ]
    )

"""The command line: fast start-up, no heavy imports for help/validate, Ianvs-style -f accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli import main
from tests.conftest import edit_yaml, keep_algorithms

HEAVY = ("torch", "matplotlib", "numpy")


def _imported_after(code: str) -> dict[str, bool]:
    script = f"import sys, json\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_imports_no_heavy_library() -> None:
    imported = _imported_after(
        "from controller.cli import build_parser\n"
        "try:\n    build_parser().parse_args(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert imported == dict.fromkeys(HEAVY, False)


def test_validate_imports_neither_torch_nor_matplotlib(job_dir: Path) -> None:
    imported = _imported_after(
        f"from controller.cli import main\nassert main(['validate', {str(job_dir / 'benchmarkingjob.yaml')!r}]) == 0"
    )
    assert not imported["torch"] and not imported["matplotlib"]


def test_validate_reports_the_plan(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert "ok (5 algorithms, 5 test cases, 18 train / 9 test samples)" in capsys.readouterr().err


def test_validate_counts_a_repeated_hyperparameter_combination_once(
    job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep_algorithms(job_dir, "pixel-softmax-finetune")
    edit_yaml(
        job_dir / "algorithm-finetune.yaml",
        lambda d: d["algorithm"]["modules"][0]["hyperparameters"][0].__setitem__(
            "learning_rate", {"values": [0.05, 0.1, 0.05]}
        ),
    )
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert "ok (1 algorithm, 2 test cases," in capsys.readouterr().err


def test_validate_warns_when_an_index_uses_test_split_cities(job_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = (job_dir / "data" / "train-index.txt").read_text().splitlines()[0].split()
    (job_dir / "bonn").mkdir()
    copies = []
    for n, token in enumerate(first):
        copy = job_dir / "bonn" / f"{n}.png"
        copy.write_bytes((job_dir / "data" / token).read_bytes())
        copies.append(f"bonn/{n}.png")
    rows = [
        " ".join(f"data/{t}" for t in line.split())
        for line in (job_dir / "data" / "train-index.txt").read_text().splitlines()
    ]
    (job_dir / "with-bonn.txt").write_text("\n".join([*rows, " ".join(copies)]) + "\n")
    edit_yaml(job_dir / "testenv.yaml", lambda d: d["testenv"]["dataset"].__setitem__("train_index", "./with-bonn.txt"))
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert (
        f"{job_dir / 'with-bonn.txt'}: the train index uses 1 images of official Cityscapes test-split cities (bonn 1)"
        in capsys.readouterr().err
    )


def test_ianvs_style_f_option_is_accepted(job_dir: Path) -> None:
    assert main(["validate", "-f", str(job_dir / "benchmarkingjob.yaml")]) == 0


def test_missing_job_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate"])
    assert info.value.code == 2
    assert "the benchmarkingjob.yaml path is required" in capsys.readouterr().err


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("controller 0.1.0")


def test_python_dash_m_works() -> None:
    out = subprocess.run([sys.executable, "-m", "controller", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "validate" in out.stdout


@pytest.mark.parametrize("argv", [["run", "missing.yaml"], ["validate", "missing.yaml"]])
def test_missing_job_file_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.yaml'}: benchmarking job file not found"


def test_cluster_options_without_the_simulation_runtime_are_flagged(
    job_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep_algorithms(job_dir, "majority-class")
    code = main(
        ["run", str(job_dir / "benchmarkingjob.yaml"), "--workspace", str(tmp_path / "ws"), "--namespace", "lab"]
    )
    assert code == 0
    assert "apply with --runtime simulation only" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--parallel", "-j", "--jobs"])
def test_parallel_test_cases_are_asked_for_with_parallel_or_its_make_style_aliases(option: str) -> None:
    from controller.cli import build_parser

    assert build_parser().parse_args(["run", "job.yaml", option, "3"]).parallel == 3

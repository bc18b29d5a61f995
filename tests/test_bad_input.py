"""Bad input: one specific line on stderr, exit code 2, and no leaderboard row (issue 2, point 10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from controller.cli import main
from tests.conftest import edit_yaml, write

Breaker = Callable[[Path], str]


def _missing_testenv(job: Path) -> str:
    edit_yaml(job / "benchmarkingjob.yaml", lambda d: d["benchmarkingjob"].__setitem__("testenv", "./nope.yaml"))
    return r"benchmarkingjob\.yaml:\d+:\d+: benchmarkingjob\.testenv: file not found: \./nope\.yaml"


def _yaml_syntax(job: Path) -> str:
    text = (job / "testenv.yaml").read_text().replace("num_classes: 19", "num_classes: [19")
    (job / "testenv.yaml").write_text(text)
    return r"testenv\.yaml:\d+:\d+: YAML syntax error"


def _wrong_type(job: Path) -> str:
    edit_yaml(job / "testenv.yaml", lambda d: d["testenv"].__setitem__("incremental_rounds", "three"))
    return r"testenv\.yaml:\d+:\d+: testenv\.incremental_rounds: input should be a valid integer.*'three'"


def _unknown_paradigm(job: Path) -> str:
    edit_yaml(job / "algorithm-kb.yaml", lambda d: d["algorithm"].__setitem__("paradigm_type", "lifelong"))
    return r"algorithm-kb\.yaml:\d+:\d+: algorithm\.paradigm_type: unknown paradigm 'lifelong'; expected one of: singletasklearning, lifelonglearning"


def _unknown_metric(job: Path) -> str:
    edit_yaml(job / "testenv.yaml", lambda d: d["testenv"]["metrics"].append({"name": "mIoUU"}))
    return r"testenv\.yaml:\d+:\d+: testenv\.metrics\[\d+\]\.name: unknown metric 'mIoUU'.*built-in metrics are: .*mIoU"


def _metric_file_missing(job: Path) -> str:
    edit_yaml(job / "testenv.yaml", lambda d: d["testenv"]["metrics"].append({"name": "acc", "url": "./acc.py"}))
    return r"testenv\.yaml:\d+:\d+: testenv\.metrics\[\d+\]\.url: file not found: \./acc\.py"


def _module_without_class(job: Path) -> str:
    write(
        job / "mymodel.py",
        """
        from controller import register

        @register("OtherModel")
        class OtherModel:
            pass
    """,
    )

    def point(d: dict) -> None:
        d["algorithm"]["modules"][0] = {"type": "basemodel", "name": "MyModel", "url": "./mymodel.py"}

    edit_yaml(job / "algorithm-kb.yaml", point)
    return r"algorithm-kb\.yaml: algorithm\.modules\[0\]\.name: 'MyModel' not found in .*mymodel\.py; it defines: OtherModel"


def _empty_index(job: Path) -> str:
    write(job / "empty-index.txt", "# nothing here\n")
    edit_yaml(job / "testenv.yaml", lambda d: d["testenv"]["dataset"].__setitem__("train_index", "./empty-index.txt"))
    return r"empty-index\.txt: empty index file"


def _missing_image(job: Path) -> str:
    lines = (job / "data" / "train-index.txt").read_text().splitlines()
    broken = lines[:2] + [lines[2].replace("leftImg8bit.png", "leftImg8bit_MISSING.png")]
    write(
        job / "broken-index.txt",
        "\n".join(line.replace(" ", " data/").replace("leftImg8bit/", "data/leftImg8bit/", 1) for line in broken)
        + "\n",
    )
    edit_yaml(job / "testenv.yaml", lambda d: d["testenv"]["dataset"].__setitem__("train_index", "./broken-index.txt"))
    return r"broken-index\.txt:3: .*file not found: .*MISSING\.png"


def _label_size_mismatch(job: Path) -> str:
    first = (job / "data" / "train-index.txt").read_text().splitlines()[0].split()
    rgb = job / "data" / first[0]
    label = job / "odd" / "label.png"
    label.parent.mkdir()
    Image.fromarray(np.zeros((7, 9), np.uint8)).save(label)
    write(job / "odd-index.txt", f"{rgb} {label}\n")
    edit_yaml(job / "testenv.yaml", lambda d: d["testenv"]["dataset"].__setitem__("test_index", "./odd-index.txt"))
    return r"odd-index\.txt:1: .*size"


def _no_cloud_node(job: Path) -> str:
    edit_yaml(
        job / "benchmarkingjob.yaml", lambda d: d["benchmarkingjob"].__setitem__("simulation", {"cloud_number": 0})
    )
    return r"benchmarkingjob\.yaml:\d+:\d+: benchmarkingjob\.simulation\.cloud_number: at least one cloud node \(the control plane\) is needed"


CASES: dict[str, Breaker] = {
    "missing file": _missing_testenv,
    "yaml syntax": _yaml_syntax,
    "wrong type": _wrong_type,
    "unknown paradigm": _unknown_paradigm,
    "unknown metric": _unknown_metric,
    "metric file missing": _metric_file_missing,
    "module without the named class": _module_without_class,
    "empty index": _empty_index,
    "index names a missing image": _missing_image,
    "label of another size": _label_size_mismatch,
    "lab without a cloud node": _no_cloud_node,
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_no_leaderboard(
    job_dir: Path, case: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    pattern = CASES[case](job_dir)
    code = main([command, str(job_dir / "benchmarkingjob.yaml")])
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert code == 2
    assert len(errors) == 1, err
    assert re.search(pattern, errors[0]), errors[0]
    assert not (job_dir / "workspace").exists()


def test_misspelt_hyperparameter_is_named_with_what_the_plugin_accepts(
    job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"][0]["hyperparameters"].append({"learnig_rate": {"values": [0.1]}}),
    )
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 2
    err = capsys.readouterr().err
    assert (
        "algorithm-kb.yaml: algorithm.modules[0].hyperparameters: PixelSoftmaxSegmenter does not take 'learnig_rate'; it accepts: "
        in err
    )
    assert "learning_rate" in err


def test_misspelt_hyperparameter_of_a_plugin_file_is_found_without_importing_it(
    job_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        job_dir / "hsm.py",
        """
        from controller import register
        raise SystemExit("importing this file is not allowed during validate")

        @register("HardSampleMining")
        class HardSampleMining:
            def __init__(self, threshold=0.9):
                self.threshold = threshold
    """,
    )
    edit_yaml(
        job_dir / "algorithm-kb.yaml",
        lambda d: d["algorithm"]["modules"].__setitem__(
            3,
            {
                "type": "unseen_sample_recognition",
                "name": "HardSampleMining",
                "url": "./hsm.py",
                "hyperparameters": [{"threhold": {"values": [0.95]}}],
            },
        ),
    )
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 2
    assert "HardSampleMining does not take 'threhold'; it accepts: threshold" in capsys.readouterr().err

"""Ianvs-compatible configs: paths resolve against the naming file, keys are typed and checked."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from controller.config.loader import load_job
from controller.errors import ConfigError
from tests.conftest import edit_yaml


def test_example_job_loads_with_five_algorithms(job_dir: Path) -> None:
    config = load_job(job_dir / "benchmarkingjob.yaml")
    assert config.job.name == "cityscapes-lifelong"
    assert [a.name for a in config.algorithms] == [
        "rfnet-kb",
        "rfnet-finetune",
        "pixel-softmax-kb",
        "pixel-softmax-finetune",
        "majority-class",
    ]
    assert config.job.rank.sort_keys == [("mIoU", False), ("BWT", False)]


def test_paths_resolve_relative_to_the_file_not_the_working_directory(
    job_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_job(job_dir / "benchmarkingjob.yaml")
    assert config.workspace == job_dir / "workspace"
    assert config.testenv.train_index == job_dir / "data" / "train-index.txt"
    assert config.algorithms[2].file == job_dir / "algorithm-kb.yaml"


def test_tilde_and_environment_variables_expand(job_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IANVS_TEST_DATA", str(job_dir / "data"))
    monkeypatch.setenv("HOME", str(job_dir))
    edit_yaml(
        job_dir / "testenv.yaml",
        lambda d: d["testenv"]["dataset"].update(
            train_index="$IANVS_TEST_DATA/train-index.txt", test_index="~/data/test-index.txt"
        ),
    )
    config = load_job(job_dir / "benchmarkingjob.yaml")
    assert config.testenv.train_index == job_dir / "data" / "train-index.txt"
    assert config.testenv.test_index == job_dir / "data" / "test-index.txt"


def test_undefined_environment_variable_is_an_error(job_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IANVS_UNSET_VAR", raising=False)
    edit_yaml(
        job_dir / "testenv.yaml", lambda d: d["testenv"]["dataset"].update(train_index="${IANVS_UNSET_VAR}/x.txt")
    )
    with pytest.raises(
        ConfigError, match=r"testenv\.dataset\.train_index: environment variable \$IANVS_UNSET_VAR is not set"
    ):
        load_job(job_dir / "benchmarkingjob.yaml")


def test_legacy_train_url_is_accepted_with_a_deprecation_warning(
    job_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def legacy(d: dict) -> None:
        dataset = d["testenv"]["dataset"]
        dataset["train_url"] = dataset.pop("train_index")

    edit_yaml(job_dir / "testenv.yaml", legacy)
    with caplog.at_level(logging.WARNING):
        config = load_job(job_dir / "benchmarkingjob.yaml")
    assert config.testenv.train_index == job_dir / "data" / "train-index.txt"
    assert "testenv.dataset.train_url is deprecated; rename it to train_index" in caplog.text


@pytest.mark.parametrize(
    ("file", "where", "message"),
    [
        (
            "testenv.yaml",
            lambda d: d["testenv"]["model_eval"].__setitem__("threhold", 0.5),
            "testenv.model_eval.threhold: unknown key ignored",
        ),
        (
            "benchmarkingjob.yaml",
            lambda d: d["benchmarkingjob"]["rank"].__setitem__("sortby", []),
            "benchmarkingjob.rank.sortby: unknown key ignored",
        ),
        (
            "algorithm-kb.yaml",
            lambda d: d["algorithm"]["modules"][0].__setitem__("hyperparameter", []),
            "algorithm.modules[0].hyperparameter: unknown key ignored",
        ),
        (
            "testenv.yaml",
            lambda d: d["testenv"].__setitem__("image_size", 512),
            "testenv.image_size: not a known testenv key; forwarded to the paradigm",
        ),
    ],
    ids=["typo in model_eval", "typo in rank", "typo in module", "forwarded testenv key"],
)
def test_unknown_keys_are_named_in_a_warning(
    job_dir: Path, caplog: pytest.LogCaptureFixture, file: str, where, message: str
) -> None:
    edit_yaml(job_dir / file, where)
    with caplog.at_level(logging.WARNING):
        load_job(job_dir / "benchmarkingjob.yaml")
    assert message in caplog.text


def test_forwarded_testenv_keys_reach_the_spec(job_dir: Path) -> None:
    edit_yaml(job_dir / "testenv.yaml", lambda d: d["testenv"].__setitem__("image_size", 512))
    assert load_job(job_dir / "benchmarkingjob.yaml").testenv.extra == {"image_size": 512}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["benchmarkingjob"].pop("name"), r"benchmarkingjob\.name: missing required key"),
        (
            lambda d: d["benchmarkingjob"]["rank"].__setitem__("sort_by", [{"mIoU": "up"}]),
            r"benchmarkingjob\.rank\.sort_by\[0\]\.mIoU: input should be 'ascend' or 'descend'",
        ),
        (
            lambda d: d["benchmarkingjob"]["test_object"]["algorithms"].append(
                {"name": "majority-class", "url": "./algorithm-majority.yaml"}
            ),
            r"algorithm names must be unique, repeated: majority-class",
        ),
    ],
    ids=["missing name", "bad sort order", "duplicate algorithm"],
)
def test_job_file_errors_name_key_and_line(job_dir: Path, change, message: str) -> None:
    edit_yaml(job_dir / "benchmarkingjob.yaml", change)
    with pytest.raises(ConfigError, match=message) as info:
        load_job(job_dir / "benchmarkingjob.yaml")
    assert info.value.file == str(job_dir / "benchmarkingjob.yaml")
    assert info.value.line is not None


def test_wrong_root_key_is_reported(job_dir: Path) -> None:
    (job_dir / "testenv.yaml").write_text("test_env:\n  dataset: {}\n")
    with pytest.raises(ConfigError, match=r"expected a mapping with the root key 'testenv', found: test_env"):
        load_job(job_dir / "benchmarkingjob.yaml")


def test_module_type_must_be_known(job_dir: Path) -> None:
    edit_yaml(
        job_dir / "algorithm-kb.yaml", lambda d: d["algorithm"]["modules"][1].__setitem__("type", "task_defintion")
    )
    with pytest.raises(ConfigError, match=r"algorithm\.modules\[1\]\.type: unknown module type 'task_defintion'"):
        load_job(job_dir / "benchmarkingjob.yaml")


def test_builtin_module_name_must_exist(job_dir: Path) -> None:
    edit_yaml(job_dir / "algorithm-kb.yaml", lambda d: d["algorithm"]["modules"][0].__setitem__("name", "PixelSoftmax"))
    with pytest.raises(
        ConfigError, match=r"algorithm\.modules\[0\]\.name: no url given and 'PixelSoftmax' is not a built-in module"
    ):
        load_job(job_dir / "benchmarkingjob.yaml")


def test_yaml_error_reports_line_and_column(job_dir: Path) -> None:
    (job_dir / "testenv.yaml").write_text("testenv:\n  dataset:\n    train_index: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_job(job_dir / "benchmarkingjob.yaml")
    assert info.value.line == 4 and info.value.column == 1
    assert "YAML syntax error" in str(info.value)


def test_no_environment_leaks_from_loading(job_dir: Path) -> None:
    before = dict(os.environ)
    load_job(job_dir / "benchmarkingjob.yaml")
    assert dict(os.environ) == before

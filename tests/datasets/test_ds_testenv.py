"""testenv.yaml `dataset_url`/`dataset_path`: validate never downloads, run provisions first."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import main
from controller.config.loader import load_job
from controller.errors import ConfigError
from tests.conftest import edit_yaml
from tests.datasets.conftest import zip_folder
from tests.datasets.dataset_server import FileServer


def _use_download(job_dir: Path, url: str, **extra: object) -> None:
    def change(data: dict) -> None:  # type: ignore[type-arg]
        data["testenv"]["dataset"] = {"dataset_url": url, "dataset_path": "./downloaded", **extra}

    edit_yaml(job_dir / "testenv.yaml", change)
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["test_object"].__setitem__(
            "algorithms", [{"name": "majority-class", "url": "./algorithm-majority.yaml"}]
        ),
    )


@pytest.fixture
def served(server: FileServer, tiny_dataset: Path, tmp_path: Path) -> str:
    """The session's tiny synthetic dataset as a zip on the local HTTP server."""
    archive = zip_folder(tiny_dataset, tmp_path / "tiny.zip", prefix="tiny/")
    return server.add("/tiny.zip", archive.read_bytes())


def test_loader_points_the_indexes_into_dataset_path(job_dir: Path, served: str) -> None:
    _use_download(job_dir, served, index={"train": "tr.txt"})
    env = load_job(job_dir / "benchmarkingjob.yaml").testenv
    assert env.dataset is not None and env.dataset.path == job_dir / "downloaded"
    assert (env.train_index, env.test_index) == (
        job_dir / "downloaded" / "tr.txt",
        job_dir / "downloaded" / "test-index.txt",
    )


def test_loader_keeps_the_url_out_of_repr(job_dir: Path, served: str) -> None:
    _use_download(job_dir, served + "?X-Amz-Signature=s3cr3tsig")
    env = load_job(job_dir / "benchmarkingjob.yaml").testenv
    assert "s3cr3tsig" not in repr(env)


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"dataset_url": "https://h/x.zip"}, "testenv.dataset.dataset_path: missing"),
        (
            {"dataset_path": "./d", "train_index": "a", "test_index": "b"},
            "testenv.dataset.dataset_path: only meaningful with dataset_url",
        ),
        (
            {"dataset_url": "https://h/x.zip", "dataset_path": "./d", "sha256": "xyz"},
            "testenv.dataset.sha256: string should match pattern",
        ),
        ({"dataset_url": "https://h/x.zip", "dataset_path": "./d", "layout": "coco"}, "testenv.dataset.layout"),
        (
            {"dataset_url": "https://h/x.zip", "dataset_path": "./d", "index": {"train": "../up.txt"}},
            "expected a file name inside dataset_path",
        ),
        (
            {"dataset_url": "https://h/$NO_SUCH_VARIABLE_X/x.zip", "dataset_path": "./d"},
            r"\$NO_SUCH_VARIABLE_X is not set",
        ),
    ],
)
def test_bad_dataset_keys_are_config_errors(dataset: dict, message: str, job_dir: Path) -> None:  # type: ignore[type-arg]
    edit_yaml(job_dir / "testenv.yaml", lambda d: d["testenv"].__setitem__("dataset", dataset))
    with pytest.raises(ConfigError, match=message):
        load_job(job_dir / "benchmarkingjob.yaml")


def test_validate_reports_what_run_will_fetch_and_never_downloads(
    job_dir: Path, served: str, server: FileServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_download(job_dir, served.replace("/tiny.zip", "/tiny.zip?token=hushhush"))
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 0
    text = "".join(capsys.readouterr())
    assert (
        f"not present yet at {job_dir / 'downloaded'}; `controller run` will fetch it from {served}?token=***" in text
    )
    assert "hushhush" not in text
    assert server.hits == [] and not (job_dir / "downloaded").exists()


def test_run_provisions_the_dataset_then_runs_the_job(job_dir: Path, served: str, server: FileServer) -> None:
    _use_download(job_dir, served + "?X-Amz-Signature=workspacesecret", tasks="by-city")
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0
    assert (job_dir / "downloaded" / "train-index.txt").is_file()
    assert (job_dir / "workspace" / "cityscapes-lifelong" / "rank" / "all_rank.csv").is_file()
    written = [p for folder in ("workspace", "downloaded") for p in (job_dir / folder).rglob("*") if p.is_file()]
    assert not [p for p in written if b"workspacesecret" in p.read_bytes()]
    assert main(["validate", str(job_dir / "benchmarkingjob.yaml")]) == 0  # present now: data checks run
    server.stop()
    assert main(["run", str(job_dir / "benchmarkingjob.yaml")]) == 0  # present and verified: no network
    assert len(server.gets("/tiny.zip")) == 1

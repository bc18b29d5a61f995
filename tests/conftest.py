"""Shared fixtures: a tiny synthetic Cityscapes-format dataset, a job that uses it, and gated algorithms (a case
that waits in its middle until a test lets it go)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

# Real-infrastructure fixtures (k8s, docker_engine, base_images, labhosts) for every test folder.
pytest_plugins = ("infra.fixtures",)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "cityscapes-lifelong"


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 cities (day/night/fog), 6 train + 3 test images each, 64x32: fast to train on."""
    from controller.datasets.synth import synthesize

    root = tmp_path_factory.mktemp("data") / "synth"
    synthesize(root, train_per_city=6, test_per_city=3, size=(64, 32), seed=1)
    return root


@pytest.fixture
def job_dir(tmp_path: Path, tiny_dataset: Path) -> Path:
    """A copy of the example job pointed at the tiny dataset (the copy's ./data is a symlink)."""
    target = tmp_path / "job"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", "workspace"))
    (target / "data").symlink_to(tiny_dataset, target_is_directory=True)
    return target


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


BASELINES = ("pixel-softmax-kb", "pixel-softmax-finetune", "majority-class")


def keep_algorithms(job_dir: Path, *names: str) -> None:
    """Restrict the copied example job to `names` (RFNet has its own, slower tests in tests/rfnet)."""
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["test_object"].__setitem__(
            "algorithms", [a for a in d["benchmarkingjob"]["test_object"]["algorithms"] if a["name"] in names]
        ),
    )


GATED = ("gated-a", "gated-b")
START_TIMEOUT_S = 60.0


@pytest.fixture
def gated_job(job_dir: Path) -> Path:
    """The example job with majority-class and two gated algorithms (three test cases).

    A gated algorithm is the built-in majority-class segmenter behind a gate: while the file ``hold`` exists in
    the folder ``$IANVS_TEST_GATE`` names (the ``gate`` fixture), training waits, after writing ``started-<pid>``
    there. So a test can signal a run while a case is in its middle, and nothing waits when nothing holds it."""
    keep_algorithms(job_dir, "majority-class")
    write(
        job_dir / "gated.py",
        """
        import os
        import time
        from pathlib import Path

        from controller import register
        from controller.algorithms.majority import MajorityClassSegmenter


        @register("GatedMajority")
        class GatedMajority(MajorityClassSegmenter):
            def train(self, train_data, valid_data=None, **kwargs):
                gate = Path(os.environ.get("IANVS_TEST_GATE", "/nonexistent"))
                if gate.is_dir():
                    (gate / f"started-{os.getpid()}").touch()
                    while (gate / "hold").exists():
                        time.sleep(0.05)
                return super().train(train_data, valid_data, **kwargs)
    """,
    )
    majority = (job_dir / "algorithm-majority.yaml").read_text()
    (job_dir / "algorithm-gated.yaml").write_text(
        majority.replace("MajorityClassSegmenter", "GatedMajority", 1).replace(
            "name: GatedMajority", "name: GatedMajority\n      url: ./gated.py"
        )
    )
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["test_object"]["algorithms"].extend(
            {"name": name, "url": "./algorithm-gated.yaml"} for name in GATED
        ),
    )
    return job_dir / "benchmarkingjob.yaml"


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    folder = tmp_path / "gate"
    folder.mkdir()
    return folder


def started(gate: Path, count: int) -> list[int]:
    """The pids of the first ``count`` gated cases that began training (waits for them)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pids = sorted(int(p.name.split("-")[1]) for p in gate.glob("started-*"))
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    pytest.fail(f"fewer than {count} gated cases started within {START_TIMEOUT_S:.0f}s")


def add_costly(
    job_dir: Path,
    name: str,
    *,
    mib: int = 0,
    hold_s: float = 0.0,
    spin_s: float = 0.0,
    predict_ms: float = 0.0,
    child_mib: int = 0,
    **entry: object,
) -> None:
    """Add algorithm ``name`` to the job: majority-class at a known cost. Each training round holds ``mib`` MiB
    resident for ``hold_s`` seconds, burns ``spin_s`` seconds of CPU and runs a child process that touches
    ``child_mib`` MiB and exits at once; each predicted sample takes ``predict_ms`` more. ``entry``: more keys of
    its benchmarking-job entry (e.g. case_memory)."""
    write(
        job_dir / "costly.py",
        """
        import logging
        import subprocess
        import sys
        import time

        from controller import register
        from controller.algorithms.majority import MajorityClassSegmenter


        @register("Costly")
        class Costly(MajorityClassSegmenter):
            def __init__(self, mib=0, hold_s=0.0, spin_s=0.0, predict_ms=0.0, child_mib=0):
                super().__init__()
                self.mib, self.hold_s, self.spin_s, self.predict_ms = mib, hold_s, spin_s, predict_ms
                self.child_mib = child_mib

            def train(self, train_data, valid_data=None, **kwargs):
                # bytes of 1s, not zeros: every page is written, so it is resident (calloc'd zeros may not be)
                held = b"\\x01" * (self.mib << 20)
                logging.getLogger("costly").info("holding %d MiB", len(held) >> 20)
                time.sleep(self.hold_s)
                began = time.process_time()
                while time.process_time() - began < self.spin_s:
                    pass
                if self.child_mib:
                    subprocess.run([sys.executable, "-c", f"b'1' * ({self.child_mib} << 20)"], check=True)
                return super().train(train_data, valid_data, **kwargs)

            def predict(self, data, **kwargs):
                time.sleep(self.predict_ms / 1000 * len(data))
                return super().predict(data, **kwargs)
    """,
    )
    majority = (job_dir / "algorithm-majority.yaml").read_text()
    hyperparameters = "".join(
        f"        - {key}: {{values: [{value}]}}\n"
        for key, value in (
            ("mib", mib),
            ("hold_s", hold_s),
            ("spin_s", spin_s),
            ("predict_ms", predict_ms),
            ("child_mib", child_mib),
        )
    )
    costly = f"      name: Costly\n      url: ./costly.py\n      hyperparameters:\n{hyperparameters}"
    changed = re.sub(r"^      name: MajorityClassSegmenter\b.*\n", costly, majority, count=1, flags=re.M)
    assert changed != majority, "algorithm-majority.yaml no longer names MajorityClassSegmenter"
    (job_dir / f"algorithm-{name}.yaml").write_text(changed)
    edit_yaml(
        job_dir / "benchmarkingjob.yaml",
        lambda d: d["benchmarkingjob"]["test_object"]["algorithms"].append(
            {"name": name, "url": f"./algorithm-{name}.yaml", **entry}
        ),
    )


class Run:
    """`controller run` in a session of its own (so a test can signal its whole process group, as Ctrl-C does)."""

    def __init__(self, job: Path, workspace: Path, gate: Path, *options: str) -> None:
        env = {**os.environ, "IANVS_TEST_GATE": str(gate), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller", "run", str(job), "--workspace", str(workspace), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )

    def finish(self, timeout_s: float = 120) -> tuple[int, str]:
        _, stderr = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, stderr


def run(job: Path, workspace: Path, gate: Path, *options: str) -> tuple[int, str]:
    return Run(job, workspace, gate, *options).finish()

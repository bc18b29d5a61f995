"""scripts/ci-cold: a command (CI's by default) in a throw-away clone of HEAD with empty caches, removed afterwards."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CI_COLD = str(REPO / "scripts" / "ci-cold")

REPORT = """
pwd
git rev-parse HEAD
find "$XDG_CACHE_HOME" "$PIP_CACHE_DIR" "$GOMODCACHE" -mindepth 1 | wc -l
test -e .venv && echo venv || echo no-venv
test -e .cache/testenv && echo testenv-state || echo no-testenv-state
"""


def _ci_cold(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CI_COLD, *args], capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp_path)}
    )


def test_the_command_runs_in_a_clone_of_head_with_empty_caches_and_the_clone_is_removed(tmp_path: Path) -> None:
    proc = _ci_cold(tmp_path, "--", "sh", "-c", REPORT)
    assert proc.returncode == 0, proc.stderr
    clone, head, cached_files, venv, state = proc.stdout.split()
    assert Path(clone).parent.parent == tmp_path and Path(clone).name == "ianvs-lab"
    assert (
        head
        == subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    assert (cached_files, venv, state) == ("0", "no-venv", "no-testenv-state")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_command_fails_the_run_and_the_clone_is_still_removed(tmp_path: Path) -> None:
    proc = _ci_cold(tmp_path, "--", "sh", "-c", "exit 3")
    assert proc.returncode == 3
    assert "FAILED (exit 3)" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_option_is_refused_before_cloning(tmp_path: Path) -> None:
    proc = _ci_cold(tmp_path, "--remove-image")
    assert proc.returncode == 2
    assert "unknown argument: --remove-image" in proc.stderr
    assert list(tmp_path.iterdir()) == []

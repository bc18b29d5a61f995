"""Infrastructure tests are skipped only on explicit request, and then say so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _pytest(env_value: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "IANVS_LAB_SKIP_INFRA"}
    if env_value is not None:
        env["IANVS_LAB_SKIP_INFRA"] = env_value
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_opt_out_skips_infrastructure_tests_with_a_visible_reason() -> None:
    proc = _pytest("1", "tests/infra/test_k8s_smoke.py::test_crd_becomes_established_and_serves_its_resource")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 skipped" in proc.stdout
    assert (
        "IANVS_LAB_SKIP_INFRA=1: tests needing the real Kubernetes/Docker environment were skipped on request"
        in proc.stdout
    )


@pytest.mark.parametrize("fixture_marker", ["k8s", "docker"])
def test_tests_using_infrastructure_fixtures_carry_their_marker(fixture_marker: str) -> None:
    # Deselecting by marker must catch every test that would start real infrastructure.
    proc = _pytest(None, "--collect-only", "-m", fixture_marker, "tests/infra")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    expected_file = "test_k8s_smoke.py" if fixture_marker == "k8s" else "test_labhosts.py"
    assert any(expected_file in line for line in collected), proc.stdout
    assert not any("test_optout.py" in line for line in collected)

"""Every playbook and role passes ansible-lint's production profile (.ansible-lint)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_playbooks_and_roles_pass_ansible_lint_production_profile(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "ansible-lint"), "--nocolor", "site.yml", "playbooks", "roles", "inventories"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stdout + proc.stderr

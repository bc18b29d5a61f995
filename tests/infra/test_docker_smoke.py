"""Smoke tests proving the Docker engine and the locally built base image are real and usable offline."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .fixtures import BaseImages, docker


def test_base_image_is_the_pinned_debian_suite(base_images: BaseImages) -> None:
    os_release = docker("run", "--rm", "--network", "none", base_images.base, "cat", "/etc/os-release").stdout
    assert "VERSION_CODENAME=bookworm" in os_release.splitlines()


@pytest.fixture
def built_image(base_images: BaseImages, tmp_path: Path) -> Iterator[str]:
    """`docker build` of a two-line Dockerfile FROM the base image; the image is removed afterwards."""
    (tmp_path / "Dockerfile").write_text(
        f'FROM {base_images.base}\nRUN echo \'built on ianvs-lab/base\' > /greeting\nCMD ["cat", "/greeting"]\n'
    )
    tag = f"ianvs-lab/smoke-test:{secrets.token_hex(4)}"
    # Legacy builder: BuildKit (buildx) is not part of Debian's docker.io and cannot be pulled here.
    proc = subprocess.run(
        ["docker", "build", "-t", tag, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    assert proc.returncode == 0, f"docker build failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield tag
    finally:
        docker("rmi", "-f", tag, check=False)


def test_image_built_from_the_base_image_runs(built_image: str) -> None:
    output = docker("run", "--rm", "--network", "none", built_image).stdout
    assert output == "built on ianvs-lab/base\n"

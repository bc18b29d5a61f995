"""Build the image the simulation runtime runs in (the Job Administrator's "build the algorithm image").

Offline by design: the lab reaches PyPI from the build machine but no registry, so the Python packages are
collected once into a wheelhouse (``pip wheel``, cached per user and reused while pyproject.toml is unchanged),
the image starts from a locally built base (``scripts/base-image``), and ``docker build`` runs through the Docker
SDK. Case specs name dataset and plugin files by absolute path; the cluster mounts them (hostPath), so the image
holds the controller and its dependencies, not the data.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller import __version__
from controller.errors import ClusterError
from controller.userdirs import cache_dir

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BASE_IMAGE = "ianvs-lab/base:bookworm"
DEFAULT_TAG = f"ianvs-lab/controller:{__version__}"
SOURCE_LABEL = "ianvs-lab.sources"


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    image_id: str
    recipe: str
    size_bytes: int


def wheelhouse_dir() -> Path:
    return cache_dir("wheelhouse")


def build_wheels(extras: tuple[str, ...] = ()) -> tuple[Path, str]:
    """Wheels of ianvs-lab (rebuilt every time: it is this checkout) and its dependencies (reused from the cache).

    Returns the wheelhouse folder and the pip requirement to install from it.
    """
    house = wheelhouse_dir()
    house.mkdir(parents=True, exist_ok=True)
    for old in house.glob("ianvs_lab-*.whl"):
        old.unlink()
    requirement = f"ianvs-lab[{','.join(extras)}]" if extras else "ianvs-lab"
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--wheel-dir",
        str(house),
        "--find-links",
        str(house),
        f"{REPO}[{','.join(extras)}]" if extras else str(REPO),
    ]
    log.info("collecting wheels into %s (dependencies are reused from there)", house)
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(
            f"pip wheel failed ({house}): {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}"
        )
    return house, requirement


def build_image(
    tag: str = DEFAULT_TAG, base_image: str = DEFAULT_BASE_IMAGE, extras: tuple[str, ...] = ()
) -> BuiltImage:
    import docker

    client = docker_client()
    try:
        base = client.images.get(base_image)
    except docker.errors.ImageNotFound:
        raise ClusterError(f"base image {base_image} is missing; build it with scripts/base-image") from None
    sources = source_recipe(base.id, extras)
    existing = _image_with_label(client, tag, SOURCE_LABEL, sources)
    if existing is not None:
        # the same sources on the same base: the wheels and the image would come out the same (minus timestamps)
        log.info("%s is up to date (sources %s)", tag, sources)
        return BuiltImage(tag, existing.id, existing.labels.get("ianvs-lab.recipe", ""), int(existing.attrs["Size"]))
    house, requirement = build_wheels(extras)
    with tempfile.TemporaryDirectory(prefix="ianvs-lab-image-") as tmp:
        context = Path(tmp)
        wheels = sorted(house.glob("*.whl"))
        (context / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, context / "wheels" / wheel.name)
        shutil.copytree(REPO / "templates", context / "templates")
        recipe = _recipe(base_image, client.images.get(base_image).id, wheels, context / "templates", requirement)
        write_dockerfile(
            context,
            "controller.Dockerfile.j2",
            base_image=base_image,
            requirement=requirement,
            version=__version__,
            recipe=recipe,
        )
        log.info("docker build -> %s (from %s, %d wheels)", tag, base_image, len(wheels))
        try:
            image, stream = client.images.build(
                path=str(context), tag=tag, rm=True, forcerm=True, labels={SOURCE_LABEL: sources}
            )
        except docker.errors.BuildError as exc:
            tail = " | ".join(
                str(line.get("stream", "")).strip() for line in list(exc.build_log)[-5:] if line.get("stream")
            )
            raise ClusterError(f"docker build of {tag} failed: {exc.msg} ({tail})") from None
        _log_stream(stream)
    return BuiltImage(tag=tag, image_id=image.id, recipe=recipe, size_bytes=int(image.attrs.get("Size", 0)))


def source_recipe(base_id: str, extras: tuple[str, ...] = ()) -> str:
    """What the image is made of, read from the sources (the built wheels carry timestamps): the base image, the
    package's metadata and code, the templates, the extras."""
    digest = hashlib.sha256()
    for part in (base_id, __version__, ",".join(sorted(extras))):
        digest.update(part.encode() + b"\0")
    files = [REPO / "pyproject.toml", *sorted((REPO / "controller").rglob("*.py")), *sorted(templates_files())]
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def templates_files() -> list[Path]:
    return [path for path in (REPO / "templates").rglob("*") if path.is_file()]


def _image_with_label(client: Any, tag: str, label: str, value: str) -> Any:
    import docker

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return image if image.labels.get(label) == value else None


def write_dockerfile(context: Path, template: str, **values: Any) -> None:
    """``context/Dockerfile`` from a template in ``templates/images`` (a missing value is an error)."""
    import jinja2

    from controller.simulation.manifests import templates_dir

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "images"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    (context / "Dockerfile").write_text(environment.get_template(template).render(**values))


def docker_client() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise ClusterError(f"no Docker engine answers ({exc}); start one (scripts/docker-engine)") from None
    return client


def _recipe(base: str, base_id: str, wheels: list[Path], templates: Path, requirement: str) -> str:
    digest = hashlib.sha256()
    for part in (base, base_id, requirement, __version__):
        digest.update(part.encode() + b"\0")
    for path in [*wheels, *sorted(p for p in templates.rglob("*") if p.is_file())]:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _log_stream(stream: Any) -> None:
    for chunk in stream:
        line = str(chunk.get("stream", "")).strip() if isinstance(chunk, dict) else ""
        if line.startswith("Step "):
            log.info("  %s", line)

"""Algorithm images: the controller image plus an algorithm's own files, so its case Pods need no host folder
for code (the Job Administrator's "build the docker images of algorithms to be tested").

An image holds, at the SAME absolute paths the case specs name: the algorithm file, the folders of its plugin
files (module ``url``\\ s, metric ``url``\\ s, ``third_party_packages``) with their source files and Python
sub-packages. Data (datasets, index files, pretrained weights) stays out: the cluster mounts it. The tag is a
content hash (``ianvs-lab/algorithm-<name>:<recipe>``), so an unchanged algorithm is not rebuilt and a changed
one can never be confused with an old image.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.config.paths import is_dotted_module
from controller.errors import ClusterError, ConfigError
from controller.plan import CaseSpec
from controller.simulation.controller_image import DEFAULT_TAG, docker_client, write_dockerfile
from controller.simulation.manifests import dns_label

log = logging.getLogger(__name__)

# Source and configuration files; data files (.txt index files, images, weights) are mounted, not baked in.
SOURCE_SUFFIXES = frozenset({".py", ".pyi", ".yaml", ".yml", ".json", ".toml", ".cfg", ".ini"})
MAX_SOURCE_BYTES = 64 * 1024 * 1024
LABEL_ALGORITHM = "ianvs-lab.algorithm"
LABEL_RECIPE = "ianvs-lab.recipe"


@dataclass(frozen=True)
class AlgorithmImage:
    algorithm: str
    tag: str
    files: tuple[Path, ...]
    built: bool
    """False when an image with this content hash already existed"""


def algorithm_sources(specs: Sequence[CaseSpec]) -> dict[str, tuple[Path, ...]]:
    """The files each algorithm's image carries, by algorithm name (sorted, absolute)."""
    by_algorithm: dict[str, set[Path]] = {}
    for spec in specs:
        files = by_algorithm.setdefault(spec.algorithm, set())
        if spec.algorithm_url:
            files.add(Path(spec.algorithm_url))
        for root in _plugin_roots(spec):
            files.update(_source_files(root))
    out = {}
    for algorithm, files in sorted(by_algorithm.items()):
        size = sum(path.stat().st_size for path in files)
        if size > MAX_SOURCE_BYTES:
            biggest = max(files, key=lambda p: p.stat().st_size)
            raise ConfigError(
                f"algorithm {algorithm}: {size / 2**20:.0f} MiB of source files to put in its image "
                f"(limit {MAX_SOURCE_BYTES // 2**20} MiB; largest {biggest}); keep data and weights "
                "out of plugin folders"
            )
        out[algorithm] = tuple(sorted(files))
    return out


def _plugin_roots(spec: CaseSpec) -> Iterator[Path]:
    """Folders whose sources a case imports: the loader puts a plugin file's folder on sys.path."""
    urls = [module.url for module in spec.modules]
    urls += [metric.url for metric in spec.testenv.metrics]
    urls += [spec.testenv.model_metric.url] if spec.testenv.model_metric else []
    urls += [package.get("url") for package in spec.third_party_packages]
    for url in urls:
        if not url or is_dotted_module(url):
            continue  # built-in or installed: already in the controller image
        path = Path(url)
        if not path.exists():
            raise ConfigError(f"algorithm {spec.algorithm}: {path} does not exist (a plugin its image should carry)")
        yield path if path.is_dir() else path.parent


def _source_files(folder: Path) -> Iterator[Path]:
    """Source files of ``folder`` and of its Python sub-packages (not its other subfolders: data, workspaces)."""
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_file() and entry.suffix in SOURCE_SUFFIXES:
            yield entry
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            yield from _source_files(entry)


def build_algorithm_images(specs: Sequence[CaseSpec], controller_image: str = DEFAULT_TAG) -> dict[str, AlgorithmImage]:
    """One image per algorithm of ``specs``, FROM ``controller_image``; by algorithm name."""
    import docker

    client = docker_client()
    try:
        base_id = client.images.get(controller_image).id
    except docker.errors.ImageNotFound:
        raise ClusterError(
            f"controller image {controller_image} is missing; build it with "
            f"`controller simulation build-image --tag {controller_image}`"
        ) from None
    return {
        algorithm: _build(client, algorithm, files, controller_image, base_id)
        for algorithm, files in algorithm_sources(specs).items()
    }


def _build(client: Any, algorithm: str, files: tuple[Path, ...], base: str, base_id: str) -> AlgorithmImage:
    import docker

    recipe = _recipe(base_id, files)
    tag = f"ianvs-lab/algorithm-{dns_label(algorithm, 40)}:{recipe}"
    try:
        client.images.get(tag)
        log.info("algorithm %s: %s is up to date", algorithm, tag)
        return AlgorithmImage(algorithm, tag, files, built=False)
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="ianvs-lab-algorithm-") as tmp:
        context = Path(tmp)
        for path in files:
            target = context / "rootfs" / path.relative_to(path.anchor)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        write_dockerfile(
            context,
            "algorithm.Dockerfile.j2",
            base_image=base,
            algorithm=algorithm,
            recipe=recipe,
            labels={"algorithm": LABEL_ALGORITHM, "recipe": LABEL_RECIPE},
        )
        log.info("algorithm %s: docker build -> %s (%d files FROM %s)", algorithm, tag, len(files), base)
        try:
            client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
        except docker.errors.BuildError as exc:
            raise ClusterError(f"docker build of {tag} (algorithm {algorithm}) failed: {exc.msg}") from None
    return AlgorithmImage(algorithm, tag, files, built=True)


def _recipe(base_id: str, files: tuple[Path, ...]) -> str:
    digest = hashlib.sha256(base_id.encode() + b"\0")
    for path in files:
        digest.update(str(path).encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]

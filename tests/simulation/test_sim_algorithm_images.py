"""Algorithm images: the controller image plus an algorithm's own files at the same absolute paths, built with the
real Docker engine; which files go in is decided without one."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra.fixtures import docker

from controller.config.loader import load_job
from controller.errors import ClusterError, ConfigError
from controller.plan import CaseSpec, build_plan
from controller.simulation import algorithm_images
from controller.simulation.algorithm_images import algorithm_sources, build_algorithm_images


def _specs(job: Path) -> list[CaseSpec]:
    return build_plan(load_job(job))


def test_a_built_in_algorithm_carries_only_its_algorithm_file(custom_algorithm_job: Path) -> None:
    sources = algorithm_sources(_specs(custom_algorithm_job))
    assert sources["majority-class"] == (custom_algorithm_job.parent / "algorithm-majority.yaml",)


def test_a_plugin_brings_its_folders_sources_and_sub_packages_but_no_data(custom_algorithm_job: Path) -> None:
    job_dir = custom_algorithm_job.parent
    files = {str(p.relative_to(job_dir)) for p in algorithm_sources(_specs(custom_algorithm_job))["custom-majority"]}
    assert files == {
        "algorithm-custom.yaml",
        "plugins/custom_majority.py",
        "plugins/helper.py",
        "plugins/tools/__init__.py",
        "plugins/tools/names.py",
    }


def test_too_many_source_bytes_is_a_clear_error(custom_algorithm_job: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(algorithm_images, "MAX_SOURCE_BYTES", 100)
    with pytest.raises(
        ConfigError,
        match=r"algorithm custom-majority: 0 MiB of source files .* \(limit 0 MiB; "
        r"largest .*\); keep data and weights out of plugin folders",
    ):
        algorithm_sources([s for s in _specs(custom_algorithm_job) if s.algorithm == "custom-majority"])


def test_a_plugin_deleted_after_planning_is_named(custom_algorithm_job: Path) -> None:
    specs = _specs(custom_algorithm_job)
    plugin = custom_algorithm_job.parent / "plugins" / "custom_majority.py"
    plugin.unlink()
    with pytest.raises(ConfigError, match=f"algorithm custom-majority: {plugin} does not exist"):
        algorithm_sources(specs)


def _in_image(image: str, script: str) -> str:
    return docker("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image, "-c", script).stdout


def test_the_image_has_the_plugin_files_at_the_same_paths_and_imports_them(
    controller_image: str, custom_algorithm_job: Path
) -> None:
    images = build_algorithm_images(_specs(custom_algorithm_job), controller_image)
    custom = images["custom-majority"]
    plugins = custom_algorithm_job.parent / "plugins"
    listing = _in_image(custom.tag, f"cd {plugins} && find . -type f | sort").split()
    assert listing == ["./custom_majority.py", "./helper.py", "./tools/__init__.py", "./tools/names.py"]
    loaded = _in_image(
        custom.tag,
        f"python3 -c 'from controller.plugins.loader import load_plugin; "
        f'print(load_plugin("{plugins / "custom_majority.py"}", "CustomMajority").greeting)\'',
    )
    assert loaded.strip() == "hello from the image"
    labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", custom.tag).stdout
    assert '"ianvs-lab.algorithm":"custom-majority"' in labels


def test_an_unchanged_algorithm_is_not_rebuilt_and_a_changed_one_gets_a_new_tag(
    controller_image: str, custom_algorithm_job: Path
) -> None:
    specs = [s for s in _specs(custom_algorithm_job) if s.algorithm == "custom-majority"]
    first = build_algorithm_images(specs, controller_image)["custom-majority"]
    again = build_algorithm_images(specs, controller_image)["custom-majority"]
    assert (again.tag, again.built) == (first.tag, False)
    helper = custom_algorithm_job.parent / "plugins" / "helper.py"
    helper.write_text('GREETING = "changed"\n')
    changed = build_algorithm_images(specs, controller_image)["custom-majority"]
    assert changed.tag != first.tag and changed.built


def test_a_missing_controller_image_says_how_to_build_it(docker_engine: object, custom_algorithm_job: Path) -> None:
    with pytest.raises(
        ClusterError,
        match=r"controller image ianvs-lab/controller:never-built is missing; build it "
        r"with `controller simulation build-image --tag ianvs-lab/controller:never-built`",
    ):
        build_algorithm_images(_specs(custom_algorithm_job), "ianvs-lab/controller:never-built")


def test_the_cli_builds_one_image_per_chosen_algorithm(
    controller_image: str, custom_algorithm_job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli import main

    code = main(
        [
            "simulation",
            "build-algorithm-images",
            str(custom_algorithm_job),
            "--controller-image",
            controller_image,
            "--algorithm",
            "custom-majority",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ALGORITHM", "IMAGE", "FILES", "BUILT"]
    assert [line.split()[0] for line in lines[1:]] == ["custom-majority"]
    assert lines[1].split()[1].startswith("ianvs-lab/algorithm-custom-majority:")


def test_the_cli_names_an_algorithm_the_job_does_not_have(
    custom_algorithm_job: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from controller.cli import main

    assert main(["simulation", "build-algorithm-images", str(custom_algorithm_job), "--algorithm", "nope"]) == 2
    assert "--algorithm nope: not in the job (it has: custom-majority, majority-class, pixel-softmax-kb)" in (
        capsys.readouterr().err
    )

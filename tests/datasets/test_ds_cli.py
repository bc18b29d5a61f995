"""`controller dataset ...` end to end: kill -9 and rerun, concurrent pulls, secrets, memory, commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from controller.cli import main
from controller.datasets.cache import MARKER, read_marker
from controller.datasets.index import read_index
from tests.datasets.conftest import (
    cityscapes_tree,
    controller_cmd,
    free_port,
    payload,
    sha256,
    subprocess_env,
    tree,
    wait_for,
    zip_folder,
)
from tests.datasets.dataset_server import FileServer

MiB = 1 << 20


def _city_zip(tmp_path: Path) -> Path:
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm", "jena"], "val": ["lindau"]})
    return zip_folder(src, tmp_path / "city.zip")


def _leftovers(*folders: Path) -> list[str]:
    """Partial downloads and staging folders: what an interrupted run may leave and a rerun must clear."""
    found = []
    for folder in folders:
        for p in folder.rglob("*"):
            if p.name.endswith((".part", ".part.json")) or ".staging-" in p.name or ".old-" in p.name:
                found.append(str(p))
    return found


def _padded_city_zip(tmp_path: Path, pad: int) -> Path:
    """A Cityscapes-layout zip with an incompressible extra file, so the download takes a while."""
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm"], "val": ["lindau"]})
    (src / "padding.bin").write_bytes(payload(pad))
    return zip_folder(src, tmp_path / "city.zip")


def test_kill_9_during_download_then_rerun_resumes_and_leaves_nothing(
    server: FileServer, tmp_path: Path, isolated_env: Path
) -> None:
    archive = _padded_city_zip(tmp_path, 3 * MiB)
    url = server.add("/city.zip", archive.read_bytes(), drip=3 * MiB)
    cmd = controller_cmd("dataset", "pull", url, "--to", str(tmp_path / "ds"))
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = isolated_env / "city" / "archives" / "city.zip.part"
    assert wait_for(lambda: part.exists() and part.stat().st_size >= 512 * 1024)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = part.stat().st_size
    assert 0 < killed_at < archive.stat().st_size and not (tmp_path / "ds").exists()

    server.resources["/city.zip"].drip = None
    rerun = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert server.gets("/city.zip")[-1].range == f"bytes={killed_at}-"
    assert read_marker(tmp_path / "ds").sha256 == sha256(archive.read_bytes())  # type: ignore[union-attr]
    assert (tmp_path / "ds" / "padding.bin").read_bytes() == payload(3 * MiB)
    assert _leftovers(isolated_env, tmp_path) == []


@pytest.fixture
def slow_archive(tmp_path: Path) -> Path:
    """A tar.bz2 of ~8 MiB random data in many files: bz2 unpacks it at ~30 MB/s, slow enough to interrupt."""
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm"], "val": ["lindau"]})
    path = tmp_path / "slow.tar.bz2"
    with tarfile.open(path, "w:bz2", compresslevel=1) as tf:
        tf.add(src, arcname="data")
        for i in range(64):
            info = tarfile.TarInfo(f"data/pad/{i:03d}.bin")
            data = os.urandom(128 * 1024)
            info.size = len(data)
            import io

            tf.addfile(info, io.BytesIO(data))
    return path


def test_kill_9_during_extraction_then_rerun_gives_a_complete_dataset(slow_archive: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "ds"
    cmd = controller_cmd("dataset", "pull", str(slow_archive), "--to", str(dest))
    proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def extracting() -> bool:
        stagings = [p for p in dest.parent.glob(".ds.staging-*")] if dest.parent.exists() else []
        return any(any(s.rglob("*.png")) for s in stagings)

    assert wait_for(extracting)
    proc.send_signal(signal.SIGSTOP)  # freeze it mid-extraction to look, then kill
    assert not dest.exists() and extracting()
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    rerun = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list((dest / "data" / "pad").iterdir())) == 64
    assert len(read_index(dest / "train-index.txt")) == 1
    assert _leftovers(tmp_path / "out") == []


def test_two_concurrent_pulls_download_once_and_both_use_the_result(server: FileServer, tmp_path: Path) -> None:
    archive = _padded_city_zip(tmp_path, 2 * MiB)
    url = server.add("/city.zip", archive.read_bytes(), drip=1.5 * MiB)  # ~1.4 s: both processes overlap
    cmd = controller_cmd("dataset", "pull", url)
    procs = [
        subprocess.Popen(cmd, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0]  # same dataset folder and index files
    assert len(server.gets("/city.zip")) == 1 and server.sent("/city.zip") == archive.stat().st_size
    assert sum("waiting for another process" in err for _, err in outputs) == 1


def _all_text(*folders: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for f in folders if f.exists() for p in f.rglob("*") if p.is_file())


def test_secrets_in_the_url_never_show_in_output_or_files(
    server: FileServer, tmp_path: Path, isolated_env: Path
) -> None:
    archive = _city_zip(tmp_path)
    server.add("/city.zip", archive.read_bytes(), drop_after=1000)  # also exercise the retry messages
    port = server.server_address[1]
    secret_url = f"http://alice:Pa55w0rdXYZ@127.0.0.1:{port}/city.zip?X-Amz-Credential=AKIAEXAMPLEKEY&X-Amz-Signature=deadbeefcafe"
    env = subprocess_env(AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMIK7MDENG", OBS_SECRET_ACCESS_KEY="obsSecretValue42")
    ok = subprocess.run(
        controller_cmd("-v", "dataset", "pull", secret_url, "--to", str(tmp_path / "ds")),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    missing = subprocess.run(
        controller_cmd("-v", "dataset", "pull", secret_url.replace("city.zip", "nope.zip")),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused = subprocess.run(
        controller_cmd("-v", "dataset", "pull", secret_url.replace(str(port), str(free_port())), "--retries", "1"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listing = subprocess.run(controller_cmd("dataset", "list"), env=env, capture_output=True, text=True, timeout=60)
    assert (ok.returncode, missing.returncode, refused.returncode) == (0, 2, 2)
    assert "HTTP 404" in missing.stderr and "Connection" in refused.stderr
    everything = "".join(r.stdout + r.stderr for r in (ok, missing, refused, listing))
    everything += _all_text(tmp_path / "ds", isolated_env)
    assert "http://***@127.0.0.1" in everything
    for secret in (
        "Pa55w0rdXYZ",
        "alice",
        "AKIAEXAMPLEKEY",
        "deadbeefcafe",
        "wJalrXUtnFEMIK7MDENG",
        "obsSecretValue42",
    ):
        assert secret not in everything


def test_memory_stays_flat_while_pulling_a_large_archive(server: FileServer, tmp_path: Path) -> None:
    src = cityscapes_tree(tmp_path / "src", {"train": ["ulm"], "val": ["lindau"]})
    (src / "padding.bin").write_bytes(os.urandom(128 * MiB))
    archive = zip_folder(src, tmp_path / "big.zip", stored=True)
    (src / "padding.bin").unlink()
    server.add("/big.zip", archive)  # served from disk with sendfile
    cmd = controller_cmd("dataset", "pull", server.url("/big.zip"), "--to", str(tmp_path / "ds"))
    script = (
        "import resource, subprocess, sys\n"
        f"r = subprocess.run({cmd!r}, stdout=subprocess.DEVNULL)\n"
        "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    code, max_rss_kib = map(int, out.stdout.split())
    assert code == 0
    assert max_rss_kib < 100 * 1024, f"peak RSS {max_rss_kib / 1024:.0f} MiB"


# --- the other sub-commands (in-process) ---------------------------------------------------------


def test_list_shows_name_size_checksum_source_and_last_use(
    server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = _city_zip(tmp_path)
    url = server.add("/city.zip", archive.read_bytes())
    assert main(["dataset", "pull", url]) == 0
    capsys.readouterr()
    assert main(["dataset", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "SIZE", "SHA256", "SOURCE", "LAST", "USED", "COPIES"]
    assert row.split()[:5] == [
        "city",
        *f"{archive.stat().st_size / 1024:.1f} KiB".split(),
        sha256(archive.read_bytes())[:12],
        url,
    ]


def test_verify_finds_a_damaged_file(server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = server.add("/city.zip", _city_zip(tmp_path).read_bytes())
    assert main(["dataset", "pull", url, "--to", str(tmp_path / "ds")]) == 0
    assert main(["dataset", "verify"]) == 0
    (tmp_path / "ds" / "leftImg8bit/train/ulm/ulm_000000_000019_leftImg8bit.png").write_bytes(b"oops")
    capsys.readouterr()
    assert main(["dataset", "verify", "city"]) == 1
    assert "ulm_000000_000019_leftImg8bit.png: size 4, expected 0" in capsys.readouterr().err


def test_verify_finds_a_damaged_archive(
    server: FileServer, tmp_path: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.add("/city.zip", _city_zip(tmp_path).read_bytes())
    assert main(["dataset", "pull", url]) == 0
    kept = isolated_env / "city" / "archives" / "city.zip"
    kept.write_bytes(kept.read_bytes()[:-1] + b"X")
    capsys.readouterr()
    assert main(["dataset", "verify", "city"]) == 1
    assert "city.zip: sha256 mismatch: expected" in capsys.readouterr().err


def test_info_describes_a_catalog_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "info", "ianvs-semantic-segmentation"]) == 0
    out = capsys.readouterr().out
    assert "layout    ianvs-segmentation" in out and "semantic_segmentation_dataset.zip" in out


def test_info_describes_a_dataset_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "pull", str(_city_zip(tmp_path)), "--to", str(tmp_path / "ds")]) == 0
    capsys.readouterr()
    assert main(["dataset", "info", str(tmp_path / "ds")]) == 0
    assert f"train_index  {tmp_path / 'ds' / 'train-index.txt'}" in capsys.readouterr().out


def test_rm_deletes_the_cache_entry_and_names_copies_outside(
    tmp_path: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dataset", "pull", str(_city_zip(tmp_path)), "--to", str(tmp_path / "ds")]) == 0
    assert main(["dataset", "rm", "city"]) == 0
    assert not (isolated_env / "city").exists() and (tmp_path / "ds" / MARKER).exists()
    assert (
        f"left in place (outside the cache; delete it yourself if unused): {tmp_path / 'ds'}" in capsys.readouterr().err
    )


def test_rm_of_an_unknown_name_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "rm", "nothing-here"]) == 2
    assert "no cache entry named 'nothing-here'" in capsys.readouterr().err


def test_index_command_writes_index_files_in_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cityscapes_tree(tmp_path / "cs", {"train": ["ulm"], "val": ["lindau"]})
    assert main(["dataset", "index", str(tmp_path / "cs"), "--layout", "cityscapes", "--tasks", "by-city"]) == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / "cs" / "train-index.txt"),
        str(tmp_path / "cs" / "test-index.txt"),
    ]


def test_cache_flag_overrides_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "pull", str(_city_zip(tmp_path)), "--cache", str(tmp_path / "elsewhere")]) == 0
    assert capsys.readouterr().out.splitlines()[0] == str(tmp_path / "elsewhere" / "city" / "data")
    assert tree(tmp_path / "elsewhere" / "city") >= {"entry.json", "data"}


def test_sha256_flag_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = _city_zip(tmp_path)
    assert main(["dataset", "pull", str(archive), "--sha256", "f" * 64]) == 2
    assert f"sha256 mismatch: expected {'f' * 64}, got {sha256(archive.read_bytes())}" in capsys.readouterr().err


def test_synth_still_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "dataset",
                "synth",
                str(tmp_path / "s"),
                "--train-per-city",
                "1",
                "--test-per-city",
                "1",
                "--size",
                "64x32",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.split()[0] == str(tmp_path / "s" / "train-index.txt")

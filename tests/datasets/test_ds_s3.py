"""s3:// and obs:// against a local S3-compatible server (moto in server mode), started by the test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.datasets.cache import DataCache
from controller.datasets.catalog import Catalog
from controller.datasets.provision import Request, provision
from controller.datasets.sources import Redactor, parse_source, presign
from controller.errors import DatasetError
from tests.datasets.conftest import (
    FAST,
    cityscapes_tree,
    controller_cmd,
    free_port,
    sha256,
    subprocess_env,
    zip_folder,
)

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

ACCESS = "AKIAIANVSLABTEST0001"
SECRET = "s3cretKeyForTheLocalMotoServer000000001"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def bucket(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    """Bucket 'datasets' holding city.zip; returns (bucket, archive bytes)."""
    tmp = tmp_path_factory.mktemp("s3src")
    archive = zip_folder(cityscapes_tree(tmp / "src", {"train": ["ulm"], "val": ["lindau"]}), tmp / "city.zip")
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET, region_name="us-east-1"
    )
    client.create_bucket(Bucket="datasets")
    client.put_object(Bucket="datasets", Key="cityscapes/city.zip", Body=archive.read_bytes())
    return "datasets", archive.read_bytes()


def _pull(source: str, dest: Path) -> object:
    return provision(
        Request(source, dest=dest), cache=DataCache(), catalog=Catalog.load(include_user=False), policy=FAST
    )


def test_s3_url_with_credentials_from_the_environment(
    endpoint: str, bucket: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    result = _pull("s3://datasets/cityscapes/city.zip", tmp_path / "ds")
    assert result.marker.sha256 == sha256(bucket[1])
    assert result.marker.source == "s3://datasets/cityscapes/city.zip"
    assert result.train_index is not None and result.train_index.is_file()


def test_obs_url_speaks_the_s3_api_with_obs_credentials(
    endpoint: str, bucket: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBS_ENDPOINT", endpoint)
    monkeypatch.setenv("OBS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("OBS_SECRET_ACCESS_KEY", SECRET)
    result = _pull("obs://datasets/cityscapes/city.zip", tmp_path / "ds")
    assert result.marker.sha256 == sha256(bucket[1])


def test_credentials_file_signs_the_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(f"[obs]\naws_access_key_id = AKIAFROMTHEFILE00001\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("IANVS_LAB_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("OBS_ENDPOINT", endpoint)
    redactor = Redactor()
    url = presign(parse_source("obs://datasets/cityscapes/city.zip"), redactor)
    assert "AKIAFROMTHEFILE00001" in url and "X-Amz-Signature=" in url
    assert redactor.scrub(url).count("AKIAFROMTHEFILE00001") == 0


def test_obs_without_credentials_is_anonymous_and_never_borrows_aws_keys(
    monkeypatch: pytest.MonkeyPatch, endpoint: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("OBS_ENDPOINT", endpoint)
    url = presign(parse_source("obs://datasets/cityscapes/city.zip"), Redactor())
    assert ACCESS not in url and "Signature" not in url


def test_missing_object_is_a_final_error_naming_the_s3_url(
    endpoint: str, bucket: tuple[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(DatasetError, match=r"^s3://datasets/nope.zip: HTTP 404"):
        _pull("s3://datasets/nope.zip", tmp_path / "ds")


def test_s3_credentials_never_show_in_verbose_output(endpoint: str, bucket: tuple[str, bytes], tmp_path: Path) -> None:
    env = subprocess_env(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET)
    runs = [
        subprocess.run(
            controller_cmd("-v", "dataset", "pull", f"s3://datasets/{key}", "--to", str(tmp_path / key)),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for key in ("cityscapes/city.zip", "missing.zip")
    ]
    assert [r.returncode for r in runs] == [0, 2]
    text = "".join(r.stdout + r.stderr for r in runs)
    files = "".join(
        p.read_text(errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix in (".json", ".txt", ".tsv")
    )
    assert ACCESS not in text + files and SECRET not in text + files
    assert "s3://datasets/missing.zip: HTTP 404" in text

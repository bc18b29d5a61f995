"""The downloader against a real HTTP server that misbehaves on purpose (no mocked HTTP)."""

from __future__ import annotations

import datetime
import json
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cli import main
from controller.datasets.download import RETRIES_VARIABLE, RetryPolicy, download
from controller.datasets.progress import LogProgress
from controller.datasets.sources import parse_source
from controller.errors import DatasetError
from tests.datasets.conftest import FAST, free_port, payload, sha256
from tests.datasets.dataset_server import FileServer

MiB = 1 << 20
NO_RETRY = RetryPolicy(attempts=0, backoff=0.01, connect_timeout=2.0, read_timeout=1.0)


def _get(server: FileServer, path: str, dest: Path, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("policy", FAST)
    return download(parse_source(server.url(path)), dest, **kw)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".part", ".part.json")))


def test_download_writes_the_file_and_reports_its_sha256(server: FileServer, tmp_path: Path) -> None:
    data = payload(3 * MiB + 17)
    server.add("/d.zip", data)
    got = _get(server, "/d.zip", tmp_path / "d.zip", sha256=sha256(data))
    assert (tmp_path / "d.zip").read_bytes() == data
    assert (got.sha256, got.size, got.reused) == (sha256(data), len(data), 0)
    assert _leftovers(tmp_path) == []


def test_dropped_connection_resumes_within_1_mib_of_the_drop_point(server: FileServer, tmp_path: Path) -> None:
    data = payload(8 * MiB)
    drop = 3 * MiB + 12345
    server.add("/d.zip", data, drop_after=drop)
    _get(server, "/d.zip", tmp_path / "d.zip", sha256=sha256(data))
    first, second = server.gets("/d.zip")
    resumed_at = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert first.sent == drop and second.status == 206
    assert drop - MiB <= resumed_at <= drop
    assert server.sent("/d.zip") <= len(data) + MiB
    assert (tmp_path / "d.zip").read_bytes() == data


def test_resume_sends_the_validator_as_if_range(server: FileServer, tmp_path: Path) -> None:
    server.add("/d.zip", payload(2 * MiB), drop_after=MiB)
    _get(server, "/d.zip", tmp_path / "d.zip")
    etag = server.gets("/d.zip")[0]
    assert server.gets("/d.zip")[1].headers.get("If-Range", "").startswith('"')
    assert etag.status == 200


def test_server_ignoring_range_restarts_from_zero_cleanly(server: FileServer, tmp_path: Path) -> None:
    data = payload(4 * MiB)
    server.add("/d.zip", data, honour_range=False, drop_after=MiB)
    got = _get(server, "/d.zip", tmp_path / "d.zip", sha256=sha256(data))
    assert [h.status for h in server.gets("/d.zip")] == [200, 200]
    assert got.sha256 == sha256(data)
    assert (tmp_path / "d.zip").read_bytes() == data


def test_a_new_run_resumes_the_part_file_of_an_earlier_run(server: FileServer, tmp_path: Path) -> None:
    data = payload(4 * MiB)
    server.add("/d.zip", data, drop_after=MiB + 7, after=[503, 503])
    with pytest.raises(DatasetError, match="download failed after 1 attempts: HTTP 503"):
        _get(server, "/d.zip", tmp_path / "d.zip", policy=NO_RETRY)
    assert _leftovers(tmp_path) == ["d.zip.part", "d.zip.part.json"]
    got = _get(server, "/d.zip", tmp_path / "d.zip", sha256=sha256(data))
    assert got.reused == MiB + 7 and got.fetched == len(data) - (MiB + 7)
    assert server.gets("/d.zip")[-1].range == f"bytes={MiB + 7}-"
    assert _leftovers(tmp_path) == []


def test_a_file_changed_on_the_server_is_downloaded_again_from_zero(server: FileServer, tmp_path: Path) -> None:
    old, new = payload(3 * MiB, seed=1), payload(3 * MiB, seed=2)
    server.add("/d.zip", old, drop_after=MiB, after=[503])
    with pytest.raises(DatasetError):
        _get(server, "/d.zip", tmp_path / "d.zip", policy=NO_RETRY)
    server.add("/d.zip", new, last_modified="Tue, 02 Jan 2024 00:00:00 GMT")
    got = _get(server, "/d.zip", tmp_path / "d.zip")
    assert server.gets("/d.zip")[-1].status == 200  # If-Range did not match: whole file
    assert got.sha256 == sha256(new) and got.reused == 0


def test_part_file_without_metadata_is_discarded(server: FileServer, tmp_path: Path) -> None:
    data = payload(MiB)
    server.add("/d.zip", data)
    (tmp_path / "d.zip.part").write_bytes(b"garbage from somewhere else")
    got = _get(server, "/d.zip", tmp_path / "d.zip")
    assert got.sha256 == sha256(data) and server.gets("/d.zip")[0].range is None


def test_5xx_is_retried_until_it_succeeds(server: FileServer, tmp_path: Path) -> None:
    data = payload(1000)
    server.add("/d.zip", data, statuses=[500, 503])
    _get(server, "/d.zip", tmp_path / "d.zip")
    assert [h.status for h in server.gets("/d.zip")] == [500, 503, 200]


def test_persistent_5xx_gives_up_after_the_allowed_attempts(server: FileServer, tmp_path: Path) -> None:
    server.add("/d.zip", b"x", status=500)
    with pytest.raises(DatasetError, match=r"download failed after 4 attempts: HTTP 500"):
        _get(server, "/d.zip", tmp_path / "d.zip")
    assert len(server.gets("/d.zip")) == 4  # FAST allows 3 retries


def test_retry_waits_grow_exponentially() -> None:
    policy = RetryPolicy(backoff=0.5, backoff_max=3.0)
    assert [policy.wait(k) for k in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(("status", "hint"), [(404, "no such file"), (403, "access denied"), (401, "credentials")])
def test_4xx_is_a_final_error_without_retries(status: int, hint: str, server: FileServer, tmp_path: Path) -> None:
    server.add("/d.zip", b"x", status=status)
    with pytest.raises(DatasetError, match=rf"/d.zip: HTTP {status} .*{hint}"):
        _get(server, "/d.zip", tmp_path / "d.zip")
    assert len(server.gets("/d.zip")) == 1
    assert list(tmp_path.iterdir()) == []


def test_checksum_mismatch_names_both_hashes_and_leaves_no_file(server: FileServer, tmp_path: Path) -> None:
    data = payload(2 * MiB)
    server.add("/d.zip", data, corrupt=True)
    corrupted = bytearray(data)
    corrupted[len(data) // 2] ^= 0xFF
    with pytest.raises(DatasetError) as caught:
        _get(server, "/d.zip", tmp_path / "d.zip", sha256=sha256(data))
    assert f"expected {sha256(data)}, got {sha256(bytes(corrupted))}" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_body_shorter_than_content_length_is_resumed(server: FileServer, tmp_path: Path) -> None:
    data = payload(MiB)
    server.add("/d.zip", data, drop_after=MiB // 2)  # Content-Length promises 1 MiB, half arrives
    got = _get(server, "/d.zip", tmp_path / "d.zip")
    assert got.sha256 == sha256(data)


def test_content_length_larger_than_the_file_is_a_clear_error(server: FileServer, tmp_path: Path) -> None:
    server.add("/d.zip", payload(1000), length_delta=500)
    with pytest.raises(DatasetError, match="d.zip"):
        _get(server, "/d.zip", tmp_path / "d.zip")
    assert not (tmp_path / "d.zip").exists()


def test_content_length_smaller_than_the_file_fails_the_checksum(server: FileServer, tmp_path: Path) -> None:
    data = payload(1000)
    server.add("/d.zip", data, length_delta=-10)
    with pytest.raises(DatasetError, match=f"expected {sha256(data)}, got {sha256(data[:-10])}"):
        _get(server, "/d.zip", tmp_path / "d.zip", sha256=sha256(data))


def test_announced_size_different_from_the_expected_size_is_refused(server: FileServer, tmp_path: Path) -> None:
    server.add("/d.zip", payload(1000))
    with pytest.raises(DatasetError, match="size mismatch: expected 999 bytes, the server announces 1000"):
        _get(server, "/d.zip", tmp_path / "d.zip", size=999)


def test_a_stalled_transfer_times_out_and_resumes(server: FileServer, tmp_path: Path) -> None:
    data = payload(2 * MiB)
    server.add("/d.zip", data, stall_after=MiB, stall_seconds=3.0)
    policy = RetryPolicy(attempts=2, backoff=0.01, read_timeout=0.3)
    got = _get(server, "/d.zip", tmp_path / "d.zip", policy=policy)
    assert got.sha256 == sha256(data)
    assert server.gets("/d.zip")[1].range is not None


def test_before_body_runs_before_any_byte_is_written(server: FileServer, tmp_path: Path) -> None:
    server.add("/d.zip", payload(5000))
    seen: list[tuple[int | None, int | None]] = []

    def refuse(remaining: int | None, total: int | None) -> None:
        seen.append((remaining, total))
        raise DatasetError("no room")

    with pytest.raises(DatasetError, match="no room"):
        _get(server, "/d.zip", tmp_path / "d.zip", before_body=refuse)
    assert seen == [(5000, 5000)]
    assert list(tmp_path.iterdir()) == []


def test_part_metadata_records_the_validators(server: FileServer, tmp_path: Path) -> None:
    server.add(
        "/d.zip",
        payload(2 * MiB),
        drop_after=MiB,
        after=[503],
        etag='"v1"',
        last_modified="Mon, 01 Jan 2024 00:00:00 GMT",
    )
    with pytest.raises(DatasetError):
        _get(server, "/d.zip", tmp_path / "d.zip", policy=NO_RETRY)
    meta = json.loads((tmp_path / "d.zip.part.json").read_text())
    assert meta == {
        "source": server.url("/d.zip"),
        "etag": '"v1"',
        "last_modified": "Mon, 01 Jan 2024 00:00:00 GMT",
        "total": 2 * MiB,
    }


def test_a_slow_transfer_logs_periodic_progress_lines(
    server: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.add("/d.zip", payload(256 * 1024), drip=512 * 1024)
    with caplog.at_level(logging.INFO, logger="controller.progress"):
        _get(server, "/d.zip", tmp_path / "d.zip", progress=LogProgress("d.zip", interval=0.1))
    lines = [m for m in caplog.messages if m.startswith("d.zip: ") and "ETA" in m]
    assert len(lines) >= 2


# --- bounded retries, one line per try, and failures that waiting cannot fix -------------------


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_refused_connection_is_retried_with_one_short_line_per_try(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/none.zip"
    policy = RetryPolicy(attempts=2, backoff=0.01)
    with pytest.raises(DatasetError) as caught:
        download(parse_source(url), tmp_path / "none.zip", policy=policy)
    why = f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert _warnings(caplog) == [f"{url}: {why}; retrying (1/2)", f"{url}: {why}; retrying (2/2)"]
    assert str(caught.value) == f"{url}: download failed after 3 attempts: {why}"


def test_pull_of_a_refused_port_says_one_line_per_try_without_library_noise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/none.zip"
    assert main(["dataset", "pull", url, "--retries", "1"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"downloading {url}"
    assert [line.split(":", 1)[0] for line in lines[1:]] == ["warning", "error"]
    assert lines[1].endswith(f"cannot connect to 127.0.0.1:{port}: connection refused; retrying (1/1)")
    assert not any(noise in "\n".join(lines) for noise in ("urllib3", "object at 0x", "Errno", "Max retries"))


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[FileServer]:
    """The test server behind TLS with a self-signed certificate that no client trusts."""
    crypto = pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    assert crypto
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    srv = FileServer()
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.start()
    yield srv
    srv.stop()


def test_a_tls_certificate_error_fails_at_once(
    tls_server: FileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tls_server.add("/d.zip", b"x")
    url = tls_server.url("/d.zip").replace("http://", "https://")
    port = tls_server.server_address[1]
    with pytest.raises(
        DatasetError, match=f"TLS certificate of 127.0.0.1:{port} not accepted: self-signed certificate"
    ):
        download(parse_source(url), tmp_path / "d.zip", policy=FAST)
    assert _warnings(caplog) == []


def test_the_default_policy_gives_up_within_half_a_minute() -> None:
    policy = RetryPolicy()
    assert sum(policy.wait(k) for k in range(1, policy.attempts + 1)) <= 30


def test_the_retries_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETRIES_VARIABLE, "2")
    assert RetryPolicy.from_settings().attempts == 2


def test_retries_given_on_the_command_line_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETRIES_VARIABLE, "2")
    assert RetryPolicy.from_settings(0).attempts == 0


def test_a_malformed_retries_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETRIES_VARIABLE, "many")
    with pytest.raises(DatasetError, match=f"{RETRIES_VARIABLE}: expected a whole number .* got 'many'"):
        RetryPolicy.from_settings()

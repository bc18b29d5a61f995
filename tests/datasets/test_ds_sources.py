"""Sources: parsing every supported kind, and showing them without their secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.datasets.sources import (
    Redactor,
    basic_auth,
    parse_source,
    redact_url,
    s3_settings,
)
from controller.errors import DatasetError


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://host/a/b.zip", "https://host/a/b.zip"),
        ("https://user:pass@host:8443/b.zip", "https://***@host:8443/b.zip"),
        (
            "https://b.obs.cn-north-1.myhuaweicloud.com/x.zip?AccessKeyId=AK&Expires=1&Signature=S%2B1",
            "https://b.obs.cn-north-1.myhuaweicloud.com/x.zip?AccessKeyId=***&Expires=***&Signature=***",
        ),
        ("http://h/x.zip?token#frag", "http://h/x.zip?***"),
    ],
)
def test_redact_url_hides_userinfo_and_every_query_value(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redactor_scrubs_plain_and_percent_encoded_forms() -> None:
    redactor = Redactor(["s3cr/t+key"])
    assert redactor.scrub("a s3cr/t+key b s3cr%2Ft%2Bkey c") == "a *** b *** c"


def test_redactor_ignores_too_short_values() -> None:
    assert Redactor(["1"]).scrub("version 1") == "version 1"


def test_source_repr_never_shows_the_url() -> None:
    source = parse_source("https://u:topsecret@host/x.zip?sig=abcdef")
    assert "topsecret" not in repr(source) and "abcdef" not in repr(source)
    assert source.display == "https://***@host/x.zip?sig=***"


@pytest.mark.parametrize(
    ("text", "kind", "display"),
    [
        ("https://h/x.zip", "http", "https://h/x.zip"),
        ("s3://bucket/dir/x.tar.gz", "s3", "s3://bucket/dir/x.tar.gz"),
        ("obs://bucket/x.zip", "s3", "obs://bucket/x.zip"),
    ],
)
def test_parse_remote_sources(text: str, kind: str, display: str) -> None:
    source = parse_source(text)
    assert (source.kind, source.display) == (kind, display)


def test_local_path_and_file_url_name_the_same_file(tmp_path: Path) -> None:
    archive = tmp_path / "d.zip"
    archive.write_bytes(b"x")
    by_path = parse_source("d.zip", base=tmp_path)
    by_url = parse_source(archive.as_uri())
    assert by_path.path == by_url.path == archive
    assert by_path.kind == by_url.kind == "file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://h/x.zip", "unsupported scheme 'ftp'"),
        ("s3://bucket-only", "expected s3://BUCKET/KEY"),
        ("./missing.zip", "source not found"),
    ],
)
def test_bad_sources_are_named_errors(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_source(text, base=tmp_path)


def test_filename_of_a_url_without_a_path_is_a_placeholder() -> None:
    assert parse_source("https://h").filename == "download.bin"
    assert parse_source("https://h/a/Semantic%20Seg.zip?x=1").filename == "Semantic_Seg.zip"


def test_obs_settings_come_from_obs_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBS_ACCESS_KEY_ID", "AKOBS")
    monkeypatch.setenv("OBS_SECRET_ACCESS_KEY", "SKOBS")
    monkeypatch.setenv("OBS_ENDPOINT", "https://obs.ap-southeast-1.myhuaweicloud.com")
    settings = s3_settings(parse_source("obs://b/k.zip"))
    assert (settings.access_key, settings.region) == ("AKOBS", "ap-southeast-1")
    assert "SKOBS" not in repr(settings)


@pytest.mark.parametrize(
    ("endpoint", "style"),
    [
        ("http://127.0.0.1:9000", "path"),
        ("http://localhost:9000", "path"),
        ("https://s3.example.org", "auto"),
        (None, "auto"),
    ],
)
def test_local_endpoints_use_path_style_addressing(
    endpoint: str | None, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    assert s3_settings(parse_source("s3://b/k")).addressing == style


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.kaggle.com/api/v1/datasets/download/o/d", ("me", "kagglekey1")),
        ("https://me2:own@www.kaggle.com/api/v1/datasets/download/o/d", None),
        ("https://example.org/d.zip", None),
    ],
)
def test_kaggle_token_from_the_environment_only_for_kaggle(
    url: str, expected: tuple[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "me")
    monkeypatch.setenv("KAGGLE_KEY", "kagglekey1")
    assert basic_auth(parse_source(url)) == expected

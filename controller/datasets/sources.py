"""Where a dataset comes from: http(s), file://, a local file or folder, s3:// or obs:// — and how to
talk about it without leaking credentials.

Why one module: every place that logs, raises or stores a source must use the same redacted form,
and every secret (URL password, query-string signature, access keys from the environment or a
credentials file) must be known to one :class:`Redactor` that scrubs free text (exception messages
from libraries quote URLs verbatim).

Redaction rules (``display``):

    https://user:pass@host/p/x.zip?X-Amz-Signature=abc&v=1  ->  https://***@host/p/x.zip?X-Amz-Signature=***&v=***

Every query value is redacted (a presigned URL's signature, credential and token all live there);
keys stay visible so a user can still tell a presigned URL from a plain one.

``s3://bucket/key`` uses boto3's usual credential chain (``AWS_*`` variables, ``AWS_PROFILE``,
``AWS_SHARED_CREDENTIALS_FILE``/``~/.aws/credentials``) and endpoint (``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``). ``obs://bucket/key`` is Huawei Cloud OBS through its S3-compatible API:
``OBS_ACCESS_KEY_ID``/``OBS_SECRET_ACCESS_KEY`` (+ ``OBS_SECURITY_TOKEN``), else the ``[obs]``
profile of the credentials file, else anonymous; endpoint ``OBS_ENDPOINT`` (default
``https://obs.cn-north-1.myhuaweicloud.com``). ``IANVS_LAB_CREDENTIALS_FILE`` names an AWS-style
credentials file for both. Both are downloaded through a presigned GET URL, so resuming, retries and
progress are the HTTP downloader's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

from controller.errors import DatasetError

SourceKind = Literal["http", "file", "s3"]
MASK = "***"
DEFAULT_OBS_ENDPOINT = "https://obs.cn-north-1.myhuaweicloud.com"
PRESIGN_SECONDS = 6 * 3600
"""Lifetime of a presigned S3/OBS URL; a fresh one is made for every attempt anyway."""

CREDENTIAL_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "OBS_ACCESS_KEY_ID",
    "OBS_SECRET_ACCESS_KEY",
    "OBS_SECURITY_TOKEN",
    "KAGGLE_KEY",
)
"""Environment variables whose values are secrets wherever they appear."""

_MIN_SECRET = 4  # shorter values (e.g. "1") would scrub ordinary text
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class Redactor:
    """Knows the secret strings of one operation and removes them from any text.

    Each secret is also matched in its percent-encoded forms, since libraries quote URLs either way.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            if not secret or len(secret) < _MIN_SECRET:
                continue
            for form in (secret, quote(secret, safe=""), quote_plus(secret), unquote(secret)):
                if len(form) >= _MIN_SECRET:
                    self._secrets.add(form)

    def add_environment(self) -> None:
        """Treat the credential variables of the current environment as secrets."""
        self.add(*(os.environ.get(name) for name in CREDENTIAL_ENV))

    def scrub(self, text: str) -> str:
        # longest first, so a secret containing another is replaced whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    @contextlib.contextmanager
    def guard_loggers(self, *names: str) -> Iterator[None]:
        """While active, scrub records of third-party loggers (urllib3 logs request lines at DEBUG)."""
        flt = _ScrubFilter(self)
        loggers = [logging.getLogger(n) for n in names or ("urllib3", "botocore", "boto3", "requests")]
        for lg in loggers:
            lg.addFilter(flt)
        try:
            yield
        finally:
            for lg in loggers:
                lg.removeFilter(flt)


class _ScrubFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.scrub(record.getMessage())
        record.args = None
        return True


def redact_url(url: str) -> str:
    """The URL with userinfo replaced by ``***`` and every query value by ``***``; fragment dropped."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else MASK for pair in parts.query.split("&") if pair
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_secrets(url: str) -> list[str]:
    """Every secret-looking piece of a URL: password, user name, query string and each query value."""
    parts = urlsplit(url)
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    if parts.username:
        found.append(parts.username)
    if parts.query:
        found.append(parts.query)
        for pair in parts.query.split("&"):
            if "=" in pair:
                found.append(pair.split("=", 1)[1])
    return found


@dataclass(frozen=True)
class Source:
    """One place to fetch bytes from. ``url`` may hold secrets: never log it, use ``display``."""

    kind: SourceKind
    url: str = field(repr=False)
    display: str
    path: Path | None = None
    """local file or folder (kind == 'file')"""
    scheme: str = ""
    """'s3' or 'obs' (kind == 's3')"""
    bucket: str = ""
    key: str = ""

    @property
    def filename(self) -> str:
        """Last path component (for naming the downloaded file); ``download.bin`` when there is none."""
        if self.kind == "file" and self.path is not None:
            return self.path.name
        path = self.key if self.kind == "s3" else urlsplit(self.url).path
        name = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        name = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        return name or "download.bin"

    @property
    def is_remote(self) -> bool:
        return self.kind != "file"

    def redactor(self) -> Redactor:
        """A redactor for this source: URL secrets plus the credential variables of the environment."""
        redactor = Redactor(url_secrets(self.url))
        redactor.add_environment()
        return redactor


KAGGLE_HOSTS = frozenset({"www.kaggle.com", "kaggle.com"})


def basic_auth(source: Source) -> tuple[str, str] | None:
    """HTTP basic credentials from the environment: Kaggle's API token for kaggle.com URLs.

    A URL that carries its own ``user:password@`` wins (requests uses it).
    """
    if source.kind != "http":
        return None
    parts = urlsplit(source.url)
    if parts.username or (parts.hostname or "").lower() not in KAGGLE_HOSTS:
        return None
    user, key = os.environ.get("KAGGLE_USERNAME"), os.environ.get("KAGGLE_KEY")
    return (user, key) if user and key else None


def looks_like_url(text: str) -> bool:
    return bool(_SCHEME_RE.match(text))


def parse_source(text: str, base: Path | None = None) -> Source:
    """Parse ``http(s)://``, ``file://``, ``s3://``, ``obs://`` or a local path (relative to ``base``).

    A local path must exist; errors name the redacted source and what was expected.
    """
    if looks_like_url(text):
        scheme = text.split("://", 1)[0].lower()
        display = redact_url(text)
        if scheme in ("http", "https"):
            if not urlsplit(text).hostname:
                raise DatasetError(f"source {display}: expected a host name after {scheme}://")
            return Source("http", text, display)
        if scheme == "file":
            return _local(Path(unquote(urlsplit(text).path)), display)
        if scheme in ("s3", "obs"):
            parts = urlsplit(text)
            key = unquote(parts.path.lstrip("/"))
            if not parts.netloc or not key:
                raise DatasetError(f"source {display}: expected {scheme}://BUCKET/KEY")
            return Source("s3", text, f"{scheme}://{parts.netloc}/{key}", scheme=scheme, bucket=parts.netloc, key=key)
        raise DatasetError(
            f"source {display}: unsupported scheme {scheme!r}; expected http(s)://, file://, s3://, obs:// or a local path"
        )
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return _local(path, None)


def _local(path: Path, display: str | None) -> Source:
    path = Path(os.path.normpath(path.absolute()))
    if not path.exists():
        raise DatasetError(f"source not found: {path} (expected an archive file or a dataset folder)")
    return Source("file", path.as_uri(), display or path.as_uri(), path=path)


# --- S3 / OBS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Settings:
    """How to reach one S3-compatible store; key material is kept out of ``repr``."""

    endpoint: str | None
    region: str | None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    profile: str | None = None
    credentials_file: str | None = None
    addressing: str = "auto"


def s3_settings(source: Source) -> S3Settings:
    """Endpoint, region and credentials for ``source`` from the environment (see the module doc)."""
    creds_file = os.environ.get("IANVS_LAB_CREDENTIALS_FILE") or None
    endpoint: str | None
    access: str | None
    secret: str | None
    token: str | None
    if source.scheme == "obs":
        endpoint = os.environ.get("OBS_ENDPOINT") or DEFAULT_OBS_ENDPOINT
        region = os.environ.get("OBS_REGION") or _obs_region(endpoint)
        access, secret = os.environ.get("OBS_ACCESS_KEY_ID"), os.environ.get("OBS_SECRET_ACCESS_KEY")
        token = os.environ.get("OBS_SECURITY_TOKEN")
        profile = None if access and secret else "obs"
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        access = secret = token = None  # boto3's own chain reads AWS_* and the credentials file
        profile = os.environ.get("AWS_PROFILE") or None
    addressing = os.environ.get("IANVS_LAB_S3_ADDRESSING") or _default_addressing(endpoint)
    return S3Settings(endpoint, region, access, secret, token, profile, creds_file, addressing)


def _obs_region(endpoint: str) -> str:
    match = re.search(r"obs\.([a-z0-9-]+)\.myhuaweicloud\.com", endpoint)
    return match[1] if match else "us-east-1"


def _default_addressing(endpoint: str | None) -> str:
    """Path-style for IP addresses and localhost (MinIO, moto, lab mirrors), else boto3's choice."""
    if not endpoint:
        return "auto"
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return "path"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "auto"
    return "path"


def presign(source: Source, redactor: Redactor) -> str:
    """A presigned GET URL for an s3:// or obs:// source (boto3 signs locally: no network).

    Without credentials the URL is unsigned (public buckets). The key material and the signature
    are added to ``redactor``.
    """
    try:
        import boto3
        import botocore.session
        from botocore import UNSIGNED
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ProfileNotFound
    except ImportError:
        raise DatasetError(
            f"source {source.display}: s3:// and obs:// need the 'boto3' package (pip install boto3)"
        ) from None
    settings = s3_settings(source)
    core = botocore.session.Session()
    if settings.credentials_file:
        core.set_config_variable("credentials_file", settings.credentials_file)
    try:
        has_profile = bool(settings.profile) and settings.profile in core.available_profiles
    except ProfileNotFound:
        has_profile = False
    if has_profile:
        core.set_config_variable("profile", settings.profile)
    session = boto3.Session(
        botocore_session=core,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.token,
        region_name=settings.region,
    )
    # OBS never borrows AWS credentials: its own variables, its [obs] profile, or anonymous
    anonymous_obs = source.scheme == "obs" and not settings.access_key and not has_profile
    try:
        credentials = None if anonymous_obs else session.get_credentials()
    except BotoCoreError as exc:
        raise DatasetError(f"source {source.display}: cannot read credentials: {redactor.scrub(str(exc))}") from None
    options: dict[str, object] = {"s3": {"addressing_style": settings.addressing}}
    if credentials is None:
        options["signature_version"] = UNSIGNED
    else:
        frozen = credentials.get_frozen_credentials()
        redactor.add(frozen.access_key, frozen.secret_key, frozen.token)
        options["signature_version"] = "s3v4"
    try:
        client = session.client("s3", endpoint_url=settings.endpoint, config=Config(**options))
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": source.bucket, "Key": source.key}, ExpiresIn=PRESIGN_SECONDS
        )
    except BotoCoreError as exc:
        raise DatasetError(f"source {source.display}: {redactor.scrub(str(exc))}") from None
    redactor.add(*url_secrets(url))
    return str(url)

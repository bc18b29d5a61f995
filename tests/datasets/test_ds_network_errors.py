"""Which request failures are worth a retry, and how each is said in one line.

Refused connections and TLS errors are tested against real sockets in test_ds_download.py; a name
lookup cannot fail deterministically without a network, so those errors are built the way urllib3
builds them.
"""

from __future__ import annotations

import socket

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError

from controller.datasets.network_errors import explain, host_port


def _lookup_failure(host: str, errno: int, text: str) -> requests.exceptions.ConnectionError:
    try:
        try:
            raise socket.gaierror(errno, text)
        except socket.gaierror as cause:
            raise NameResolutionError(host, None, cause) from cause  # type: ignore[arg-type]
    except NameResolutionError as failure:
        return requests.exceptions.ConnectionError(MaxRetryError(None, "/x.zip", failure))  # type: ignore[arg-type]


def _explain(exc: BaseException, url: str = "http://data.example/x.zip"):  # type: ignore[no-untyped-def]
    return explain(exc, url, connect_timeout=15, read_timeout=60)


def test_an_unknown_host_name_is_final() -> None:
    why = _explain(_lookup_failure("data.example", socket.EAI_NONAME, "Name or service not known"))
    assert (why.transient, why.text) == (False, "unknown host name data.example (check the URL)")


def test_a_temporary_name_lookup_failure_is_worth_a_retry() -> None:
    why = _explain(_lookup_failure("data.example", socket.EAI_AGAIN, "Temporary failure in name resolution"))
    assert why.transient
    assert why.text == "cannot resolve host name data.example: temporary failure in name resolution"


def test_a_malformed_url_is_final() -> None:
    with pytest.raises(requests.RequestException) as caught:
        requests.get("http:///x.zip", timeout=1)
    assert not _explain(caught.value, "http:///x.zip").transient


def test_the_place_named_never_includes_credentials() -> None:
    assert host_port("https://user:secret@data.example/x.zip") == ("data.example", "data.example:443")

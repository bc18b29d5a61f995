"""What went wrong with an HTTP request, in one line, and whether trying again can help.

requests wraps urllib3, which wraps the socket or TLS error; ``str()`` of the outer exception is a
paragraph of object reprs. :func:`explain` walks the chain to the cause and says it the way a user
would look it up (``cannot connect to 127.0.0.1:9: connection refused``).

Worth a retry: refused or reset connections, unreachable networks, timeouts, a temporary DNS
failure. Not: an unknown host name, a TLS certificate or handshake error, a malformed URL; those
do not change by waiting.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>:?\s*")
_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True)
class Explained:
    transient: bool
    """True when the same request may succeed later"""
    text: str
    """one line, no library object reprs"""
    cause: str = ""
    """the innermost exception as the library said it (``ConnectionRefusedError: [Errno 111] ...``), for -v"""


def host_port(url: str) -> tuple[str, str]:
    """(``127.0.0.1``, ``127.0.0.1:9``) for ``http://user:pw@127.0.0.1:9/x``: never the credentials."""
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number: urlsplit accepted it, .port does not
        port = None
    host = parts.hostname or "?"
    return host, f"{host}:{port}" if port else host


def explain(exc: BaseException, url: str, *, connect_timeout: float, read_timeout: float) -> Explained:
    """Classify an exception that requests/urllib3 raised for a request to ``url``."""
    host, where = host_port(url)
    chain = list(_causes(exc))
    return replace(_classify(exc, chain, host, where, connect_timeout, read_timeout), cause=_cause(chain[-1]))


def _classify(
    exc: BaseException, chain: list[BaseException], host: str, where: str, connect_timeout: float, read_timeout: float
) -> Explained:
    import requests
    import urllib3.exceptions

    cert = _first(chain, ssl.SSLCertVerificationError)
    if cert is not None:
        return Explained(False, f"TLS certificate of {where} not accepted: {cert.verify_message or _reason(cert)}")
    tls = _first(chain, ssl.SSLError)
    if tls is not None or isinstance(exc, requests.exceptions.SSLError):
        return Explained(False, f"TLS handshake with {where} failed: {_reason(tls or exc)}")
    lookup = _first(chain, socket.gaierror)
    if lookup is not None or _first(chain, urllib3.exceptions.NameResolutionError) is not None:
        if lookup is not None and lookup.errno == socket.EAI_AGAIN:
            return Explained(True, f"cannot resolve host name {host}: temporary failure in name resolution")
        return Explained(False, f"unknown host name {host} (check the URL)")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Explained(True, f"cannot connect to {where}: no answer within {connect_timeout:g} s")
    if isinstance(exc, requests.exceptions.ReadTimeout) or _first(chain, urllib3.exceptions.ReadTimeoutError):
        return Explained(True, f"{where} sent nothing for {read_timeout:g} s")
    cause = _os_error(chain)
    if _first(chain, urllib3.exceptions.NewConnectionError) is not None:
        return Explained(True, f"cannot connect to {where}: {_reason(cause or exc)}")
    broken = _first(chain, urllib3.exceptions.ProtocolError)
    if cause is not None or broken is not None or isinstance(exc, requests.exceptions.ConnectionError):
        return Explained(True, f"connection to {where} lost: {_reason(cause or broken or exc)}")
    return Explained(False, _reason(exc))


def _cause(exc: BaseException) -> str:
    text = _OBJECT_REPR.sub("", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (``reason``, ``__cause__``, ``__context__``, exception ``args``), outermost first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args)
        todo += [w for w in wrapped if isinstance(w, BaseException)]


def _first(chain: list[BaseException], *types: type[_E]) -> _E | None:
    return next((e for e in chain if isinstance(e, types)), None)


def _os_error(chain: list[BaseException]) -> OSError | None:
    """The socket-level error (it has an errno; requests' own exceptions are OSErrors without one)."""
    return next((e for e in chain if isinstance(e, OSError) and e.strerror and not isinstance(e, ssl.SSLError)), None)


def _reason(exc: BaseException) -> str:
    """The human part of an exception: ``connection refused`` for ``[Errno 111] Connection refused``."""
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        text = exc.strerror
    elif isinstance(exc, ssl.SSLError) and exc.reason:
        text = str(exc.reason).replace("_", " ").lower()
    else:
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        text = _OBJECT_REPR.sub("", message).strip() or type(exc).__name__
        text = text.splitlines()[0]
    text = text[:1].lower() + text[1:]
    return text if len(text) <= 200 else text[:197] + "..."

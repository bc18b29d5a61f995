"""A page opened in a real headless Chromium, driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: the browser reads commands on fd 3 and writes replies and events on fd 4, each a JSON
message ended by NUL), so no websocket client is needed. What a test asks of a page: did it load without errors,
which URLs did it request, did its images decode.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BrowserError(RuntimeError):
    pass


@dataclass
class PageLoad:
    url: str
    errors: list[str] = field(default_factory=list)
    """console errors, uncaught exceptions, failed requests"""
    requests: list[str] = field(default_factory=list)
    """every URL the page requested, itself first"""
    images: list[dict[str, Any]] = field(default_factory=list)
    """each <img>: alt, whether it decoded (complete with a width), its natural size"""


class HeadlessBrowser:
    """One browser process; ``open(path)`` loads a local file in a fresh page and reports what happened."""

    def __init__(self, binary: Path, profile: Path) -> None:
        self._log_path = profile / "browser.log"
        self._log = self._log_path.open("wb")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def pipes_on_3_and_4() -> None:
            os.dup2(commands_read, 3)
            os.dup2(replies_write, 4)

        self._process = subprocess.Popen(
            [
                str(binary),
                "--headless",
                "--remote-debugging-pipe",
                "--no-sandbox",  # as root in a container; the page is our own file
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            close_fds=False,
            preexec_fn=pipes_on_3_and_4,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def close(self) -> None:
        self._process.kill()
        self._process.wait(timeout=30)
        os.close(self._commands)
        os.close(self._replies)
        self._log.close()

    def __enter__(self) -> HeadlessBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, path: Path, timeout_s: float = 60) -> PageLoad:
        deadline = time.monotonic() + timeout_s
        target = self.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, deadline=deadline)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", {}, session, deadline)
        url = path.resolve().as_uri()
        self._events.clear()
        self.call("Page.navigate", {"url": url}, session, deadline)
        self._wait_for_event("Page.loadEventFired", session, deadline)
        found = self.call(
            "Runtime.evaluate",
            {
                "expression": "JSON.stringify([...document.images].map(i => ({alt: i.alt, decoded: i.complete && "
                "i.naturalWidth > 0, width: i.naturalWidth, height: i.naturalHeight})))",
                "returnByValue": True,
            },
            session,
            deadline,
        )
        load = PageLoad(url, images=json.loads(found["result"]["value"]))
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                load.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                load.errors.append(f"request failed: {params.get('errorText')}")
            elif method == "Runtime.exceptionThrown":
                load.errors.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                load.errors.append(f"console: {params.get('args')}")
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                load.errors.append(f"log: {params['entry'].get('text')}")
        self.call("Target.closeTarget", {"targetId": target}, deadline=deadline)
        return load

    def call(
        self, method: str, params: dict[str, Any], session: str | None = None, deadline: float | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self._events.append(reply)

    def _wait_for_event(self, method: str, session: str, deadline: float) -> None:
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self._events):
            self._events.append(self._read(deadline))

    def _read(self, deadline: float | None) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise BrowserError("no answer from the browser in time")
            ready, _, _ = select.select([self._replies], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                log = self._log_path.read_text(errors="replace")[-2000:]
                raise BrowserError(f"the browser exited ({self._process.poll()}): {log}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(message))

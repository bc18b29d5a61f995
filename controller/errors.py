"""Error types that the CLI turns into one-line messages and exit codes.

Every user-facing error names the place (file, key path or index line) and what was expected,
so that a user can fix the input without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_CASE_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


class IanvsLabError(Exception):
    """Base class: an error the CLI reports in one line."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(IanvsLabError):
    """A configuration file is missing, malformed or names something that does not exist.

    Rendered as ``<file>[:<line>[:<col>]]: <key.path>: <message>``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        key: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.key = key
        self.line = line
        self.column = column
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
        parts = [p for p in (where, self.key) if p]
        return ": ".join(parts + [self.message])


class DatasetError(IanvsLabError):
    """An index file or a file it names is missing or inconsistent."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        where = self.file or ""
        if where and line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(ConfigError):
    """A plugin file or dotted module cannot be loaded, or lacks the named class/function."""


class ClusterError(IanvsLabError):
    """The Kubernetes cluster cannot be reached, refuses a request, or a simulation job cannot finish.

    The message names the object (kind, namespace/name) and the API server's own reason.
    """


class LabError(IanvsLabError):
    """The lab cannot be built or removed on this host: a host check failed, or a playbook did (the message names
    the check or the task and says how to fix it). Not bad input: the same command works on a suitable host."""

    exit_code = EXIT_CASE_FAILED


class ResultError(IanvsLabError):
    """A stored test-case result cannot be used: unreadable, or claiming a success it cannot show.

    Rendered as ``<file>: <message>``.
    """

    def __init__(self, message: str, *, file: str | Path) -> None:
        self.message = message
        self.file = str(file)
        super().__init__(f"{self.file}: {message}")

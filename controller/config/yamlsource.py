"""YAML loading that remembers where every key came from.

Errors found after parsing (wrong type, missing file) can then name the line of the offending
key, not just its path. Only the safe YAML subset is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controller.errors import ConfigError

KeyPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    path: Path
    data: Any
    positions: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def position(self, keypath: KeyPath) -> tuple[int | None, int | None]:
        """1-based (line, column) of the deepest known prefix of `keypath`."""
        for end in range(len(keypath), -1, -1):
            found = self.positions.get(tuple(keypath[:end]))
            if found:
                return found
        return None, None

    def error(self, keypath: KeyPath, message: str) -> ConfigError:
        line, column = self.position(keypath)
        return ConfigError(message, file=self.path, key=format_keypath(keypath), line=line, column=column)


def format_keypath(keypath: KeyPath) -> str:
    """('testenv', 'metrics', 1, 'url') -> 'testenv.metrics[1].url'."""
    text = ""
    for part in keypath:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml(path: Path, *, what: str = "file") -> YamlDocument:
    """Parse `path`; a missing file or a syntax error becomes a ConfigError with line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", file=path) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, expected a YAML file", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what}: {exc}", file=path) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"YAML syntax error: {problem}",
            file=path,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=path) from None
    finally:
        loader.dispose()
    positions: dict[KeyPath, tuple[int, int]] = {}
    if node is not None:
        _record_positions(node, (), positions)
    return YamlDocument(path=path, data=data, positions=positions)


def _record_positions(node: yaml.Node, prefix: KeyPath, out: dict[KeyPath, tuple[int, int]]) -> None:
    out.setdefault(prefix, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            path = prefix + (key,)
            out[path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _record_positions(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_positions(item, prefix + (index,), out)

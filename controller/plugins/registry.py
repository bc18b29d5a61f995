"""The `@register` decorator: names a plugin class or function as the YAML refers to it.

Registration is recorded per defining module, so that two plugin files may both register a
"BaseModel" without clobbering each other, and a missing name can be reported together with
the names that the file does register.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# module name -> {registered name -> object}
_REGISTRY: dict[str, dict[str, Any]] = defaultdict(dict)


def register(name: str | None = None, *, kind: str | None = None) -> Callable[[T], T]:
    """Register a class or function under `name` (default: its own ``__name__``).

    `kind` is informational (``"basemodel"``, ``"metric"``, ...); lookup is by name within the
    file that the YAML's ``url`` points at.
    """

    def decorate(obj: T) -> T:
        alias = name or getattr(obj, "__name__", None)
        if not alias:
            raise TypeError("register() needs a name for objects without __name__")
        module = getattr(obj, "__module__", "__main__")
        _REGISTRY[module][alias] = obj
        try:
            # setattr, not assignment: T is any object, so the type checker cannot know it takes attributes
            setattr(obj, "__ianvs_plugin__", {"name": alias, "kind": kind})  # noqa: B010
        except (AttributeError, TypeError):  # builtins or slotted objects
            pass
        return obj

    return decorate


def registered_in(module_name: str) -> dict[str, Any]:
    """Names registered by the module `module_name` (a copy)."""
    return dict(_REGISTRY.get(module_name, {}))

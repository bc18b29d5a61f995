"""Load the object a YAML `url` + `name` pair refers to.

`url` may be a Python file (imported under a private module name, its folder put on sys.path so
that it can import its siblings, as Ianvs plugins expect), a dotted module name, or absent (then
`name` must be one of the built-ins). The name is looked up among the objects the module
registered with `@register`, then among its own top-level attributes.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from controller.config.paths import is_dotted_module
from controller.errors import PluginError
from controller.plugins.builtins import BUILTIN_MODULES
from controller.plugins.registry import registered_in

_FILE_MODULES: dict[Path, ModuleType] = {}


def load_plugin(url: str | None, name: str) -> Any:
    """The class or function `name` from `url` (absolute file path, dotted module, or None)."""
    if not url:
        if name not in BUILTIN_MODULES:
            raise PluginError(f"no built-in module named {name!r}; built-ins are: {', '.join(sorted(BUILTIN_MODULES))}")
        url = BUILTIN_MODULES[name]
    module = _import_dotted(url) if is_dotted_module(url) else _import_file(Path(url))
    return _find(module, name, url)


def _import_dotted(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise PluginError(f"cannot import module {name!r}: {exc}") from None


def _import_file(path: Path) -> ModuleType:
    path = path.resolve()
    if path in _FILE_MODULES:
        return _FILE_MODULES[path]
    if not path.is_file():
        raise PluginError("plugin file not found", file=path)
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    module_name = f"ianvs_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError("not an importable Python file", file=path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the plugin's own error: report it in one line with its place
        sys.modules.pop(module_name, None)
        raise PluginError(f"error while importing plugin: {type(exc).__name__}: {exc}", file=path) from exc
    _FILE_MODULES[path] = module
    return module


def _find(module: ModuleType, name: str, url: str) -> Any:
    registered = registered_in(module.__name__)
    if name in registered:
        return registered[name]
    obj = getattr(module, name, None)
    if obj is not None and getattr(obj, "__module__", None) == module.__name__:
        return obj
    available = sorted(registered) or sorted(_public_definitions(module))
    listing = ", ".join(available) if available else "none"
    raise PluginError(f"{name!r} not found in {url}; it defines: {listing}")


def _public_definitions(module: ModuleType) -> list[str]:
    return [
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_") and callable(value) and getattr(value, "__module__", None) == module.__name__
    ]


def scan_names(path: Path) -> set[str]:
    """Names a plugin file provides, found without importing it (for `controller validate`).

    Registered aliases (``@register("Alias")``) and top-level class/function names.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
            for decorator in node.decorator_list:
                alias = _register_alias(decorator)
                if alias:
                    names.add(alias)
    return names


def _register_alias(decorator: ast.expr) -> str | None:
    if not isinstance(decorator, ast.Call):
        return None
    func = decorator.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called != "register":
        return None
    candidates = list(decorator.args[:1]) + [kw.value for kw in decorator.keywords if kw.arg == "name"]
    for candidate in candidates:
        if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
            return candidate.value
    return None


def scan_parameters(path: Path, name: str) -> set[str] | None:
    """Keyword parameters the plugin `name` in `path` accepts, read from its source.

    None when they cannot be known statically (``**kwargs``, an inherited ``__init__``).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        aliases = {node.name} | {a for a in map(_register_alias, node.decorator_list) if a}
        if name not in aliases:
            continue
        if isinstance(node, ast.ClassDef):
            init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
            if init is None:
                return None if node.bases else set()
            return _arguments(init.args, skip_first=True)
        return _arguments(node.args, skip_first=False)
    return None


def accepted_parameters(obj: Any) -> set[str] | None:
    """The same for an imported class or function (None when it takes ``**kwargs``)."""
    import inspect

    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return {n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _arguments(args: ast.arguments, *, skip_first: bool) -> set[str] | None:
    if args.kwarg is not None:
        return None
    positional = [a.arg for a in args.posonlyargs + args.args]
    if skip_first:
        positional = positional[1:]
    return set(positional) | {a.arg for a in args.kwonlyargs}

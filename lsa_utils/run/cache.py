"""The cache key of an executed chapter.

The key is a SHA-256 over

- the notebook's jupytext source text,
- the sources of the ``lsa_utils`` modules the notebook imports, followed transitively
  (found by reading ``import`` statements, so editing a module re-executes exactly the chapters
  that import it, directly or through other modules),
- the resolved parameters (scale, seed, device and every size),
- the installed versions of the packages ``pyproject.toml`` requires, and the Python version,
- the files the chapter declares it reads (``Chapter.extra_inputs``), such as benchmark results.
"""

from __future__ import annotations

import ast
import hashlib
import json
import platform
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

from .paths import project_root

PACKAGE = "lsa_utils"


def package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def _lazy_exports(init_file: Path) -> dict[str, str]:
    """The literal ``_EXPORTS`` table of a package's ``__init__.py``: name -> defining module."""
    if not init_file.is_file():
        return {}
    tree = ast.parse(init_file.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "_EXPORTS":
            return ast.literal_eval(node.value)
    return {}


def _resolve(module: str) -> tuple[str, Path] | None:
    """``(module, file)`` of an ``lsa_utils`` module name, or ``None`` if it is not one.

    ``package.NAME`` for a name that the package exports lazily (``lsa_utils._lazy``) resolves
    to the module that defines it.
    """
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = package_dir().joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return module, candidate
    exports = _lazy_exports(package_dir().joinpath(*parts[1:-1], "__init__.py"))
    if parts[-1] in exports:
        return _resolve(exports[parts[-1]])
    return None


def _imported_modules(source: str, current: str | None = None, is_package: bool = False) -> set[str]:
    """Absolute module names imported by ``source`` (relative imports resolved against ``current``).

    ``from pkg import name`` yields ``pkg`` and, in case ``name`` is a submodule, ``pkg.name``.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
        elif isinstance(node, ast.ImportFrom):
            if node.level and current:
                anchor = current.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            parts = base.split(".")
            found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == PACKAGE:
            found.add(f"{PACKAGE}.{node.attr}")  # lsa_utils.name used after `import lsa_utils`
    return found


def imported_package_files(notebook_text: str) -> list[Path]:
    """The ``lsa_utils`` source files that ``notebook_text`` needs, transitively, sorted."""
    todo = list(_imported_modules(notebook_text))
    seen: dict[str, Path] = {}
    while todo:
        resolved = _resolve(todo.pop())
        if resolved is None or resolved[0] in seen:
            continue
        module, path = resolved
        seen[module] = path
        parts = module.split(".")  # importing a.b.c runs a/__init__ and a/b/__init__ first
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        todo.extend(
            _imported_modules(path.read_text(), module, is_package=path.name == "__init__.py")
        )
    return sorted(set(seen.values()))


# extras whose packages cannot change what a chapter computes: rendering and testing
NOT_IN_CACHE_KEY = ("test", "all")
RENDERING_ONLY = {"jupyter-book", "django-static-mathjax", "pyyaml"}


def dependency_versions() -> list[str]:
    """``name==version`` of every package that ``pyproject.toml`` requires for computing a
    chapter (the core and the extras, less testing and rendering), as installed in this
    environment (``name==absent`` where it is not): a chapter's outputs change with the versions
    that really ran, whatever pins or lock file installed them."""
    pyproject = project_root() / "pyproject.toml"
    if not pyproject.is_file():
        return []
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    extras = project.get("optional-dependencies", {})
    texts = [*project.get("dependencies", []),
             *(r for name, extra in extras.items() if name not in NOT_IN_CACHE_KEY for r in extra)]
    names = {re.split(r"[\s<>=!~;\[]", text, maxsplit=1)[0].lower() for text in texts}
    out = []
    for name in sorted(names - {"lsa-utils"} - RENDERING_ONLY):
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name}==absent")
    return out


def cache_key(notebook_text: str, parameters: dict[str, Any], extra_inputs: tuple[str, ...] = ()) -> str:
    """SHA-256 hex digest of everything an executed chapter depends on (see module docstring);
    ``extra_inputs`` are files, relative to the project root, that the chapter reads."""
    h = hashlib.sha256()

    def add(label: str, data: str | bytes) -> None:
        data = data.encode() if isinstance(data, str) else data
        h.update(f"{label}:{len(data)}:".encode())
        h.update(data)

    add("notebook", notebook_text)
    root = package_dir().parent
    for path in imported_package_files(notebook_text):
        add(f"source {path.relative_to(root)}", path.read_bytes())
    for name in extra_inputs:
        path = project_root() / name
        add(f"input {name}", path.read_bytes() if path.is_file() else b"<absent>")
    add("parameters", json.dumps(parameters, sort_keys=True))
    add("versions", json.dumps(dependency_versions()))
    add("python", platform.python_version())
    return h.hexdigest()

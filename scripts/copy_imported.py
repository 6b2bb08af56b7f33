"""Copy the modules of a source tree that the given modules import, and only those.

``python copy_imported.py SRC DEST MODULE...`` imports each MODULE with SRC first on ``sys.path`` (a
``__main__`` module, what ``python -m package`` runs, is read instead), then every module of their
packages that a loaded one names in an ``import`` statement (inside functions too, found in its
source), until no new one appears. It copies the file of each such module (package ``__init__.py``
files included) to the same path under DEST and prints the paths.

The Dockerfile's model stage runs on that copy: a change to code the model commands never import leaves
the copy, and so the stage's cache, as it was, and the models are not fetched again.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path


def _source_files(root: Path, packages: set[str]) -> dict[str, Path]:
    """The loaded modules of `packages` whose files lie under `root`, by name."""
    found = {}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name.partition(".")[0] in packages and file and Path(file).resolve().is_relative_to(root):
            found[name] = Path(file).resolve()
    return found


def _named_modules(name: str, path: Path) -> set[str]:
    """The absolute module names the file of module `name` imports, and `from x import y`'s x.y."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imported_files(root: Path, modules: Sequence[str]) -> list[Path]:
    """The files under `root` of `modules` and of every module of their packages they import.

    A ``__main__`` module (what ``python -m package`` runs) is read, not run.
    """
    root = root.resolve()
    sys.path.insert(0, str(root))
    packages = {name.partition(".")[0] for name in modules}
    pending = set(modules)
    tried: set[str] = set()
    scanned: set[str] = set()
    read_only: dict[str, Path] = {}
    while pending:
        name = pending.pop()
        tried.add(name)
        try:
            if name.rpartition(".")[2] == "__main__":
                spec = importlib.util.find_spec(name)
                if spec is None or spec.origin is None:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                read_only[name] = Path(spec.origin).resolve()
            else:
                importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in modules or exc.name != name:
                raise
            continue  # `from package import function`: that name is no module
        for loaded, path in (_source_files(root, packages) | read_only).items():
            if loaded not in scanned:
                scanned.add(loaded)
                named = _named_modules(loaded, path)
                pending.update(
                    other for other in named if other not in tried and other.partition(".")[0] in packages
                )
    files = (_source_files(root, packages) | read_only).values()
    return sorted({path.relative_to(root) for path in files})


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3:
        sys.stderr.write(__doc__ or "")
        return 2
    source, destination, modules = Path(argv[0]), Path(argv[1]), argv[2:]
    for relative in imported_files(source, modules):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)
        sys.stdout.write(f"{relative}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

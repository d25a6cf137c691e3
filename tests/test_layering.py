"""The import rules that import-linter cannot express (its contracts are in pyproject.toml; the layers and
why are in docs/architecture.md).

- An import inside a function hides an edge of the import graph from a reader, so each one says why on its
  own line (breaks a cycle, loads torch, keeps CLI start-up fast, ...).
- The runtime is assembled in one module: only `runtime.composition` imports every pallet.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chain", "runtime", "consensus", "compute_market")
SCANNED = (*PACKAGES, "benchmarks")  # function-level imports say why here too
ASSEMBLY = "runtime.composition"


def _sources(roots: tuple[str, ...] = PACKAGES) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _comment_lines(source: str) -> set[int]:
    return {
        tok.start[0]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }


def function_level_imports_without_reason(source: str) -> list[int]:
    """Line numbers of imports inside a function (or method) with no comment on any of their lines."""
    comments = _comment_lines(source)
    bare = set()
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Import | ast.ImportFrom) and not comments & set(
                range(node.lineno, node.end_lineno + 1)
            ):
                bare.add(node.lineno)
    return sorted(bare)


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it; `from a import b` counts as a.b (b may be a module)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def test_the_checker_flags_a_bare_function_level_import_and_accepts_a_commented_one():
    source = (
        "import os\n\n"
        "def f():\n    import json\n    return json\n\n"
        "def g():\n    import torch  # seconds to load\n    return torch\n\n"
        "class C:\n    def m(self):\n        from a import (\n            b,  # breaks a cycle\n        )\n"
    )
    assert function_level_imports_without_reason(source) == [4]


@pytest.mark.parametrize("path", _sources(SCANNED), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_function_level_import_says_why(path):
    bare = function_level_imports_without_reason(path.read_text())
    assert not bare, (
        f"{path.relative_to(ROOT)}: imports inside a function without a comment saying why, at "
        f"lines {bare}; move them to the top of the module or add `# why` on the line"
    )


def test_only_the_composition_module_imports_every_pallet():
    composition = ROOT / "runtime" / "composition.py"
    pallets = {
        m
        for m in imported_modules(composition)
        if m.startswith("runtime.pallets.") or m == "compute_market.pallet"
    }
    pallet_modules = {
        _module_name(p) for p in (ROOT / "runtime" / "pallets").glob("*.py") if p.name != "__init__.py"
    }
    assert pallet_modules | {"compute_market.pallet"} == pallets, "composition lists every pallet there is"
    listing = {_module_name(p) for p in _sources() if pallets <= imported_modules(p)}
    assert listing == {ASSEMBLY}

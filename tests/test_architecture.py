"""ARCHITECTURE.md, checked: the arrows between packages, torch's one door, no code from strings, room sizes."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("geomrelax", "synthetic", "proofs_check", "figures", "benchmarks")
MAX_LINES = 650  # "no file in geomrelax/ over about 600 lines"


def modules():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            yield path


def dotted(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> set:
    """Absolute names of everything ``path`` imports (relative imports resolved), at any depth of the code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = dotted(path).split(".")
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def layer(name: str) -> str:
    """The layer of a module: app, optim (torch optimizers, numpy references), core, or a top-level package."""
    parts = name.split(".")
    if parts[0] != "geomrelax":
        return parts[0]
    if len(parts) > 1 and parts[1] in ("app", "__main__"):  # __main__ is the console entry point
        return "app"
    if len(parts) > 1 and parts[1] in ("optim", "reference"):
        return "optim"
    return "core"


# what each layer may import (of ours); everything not listed is forbidden
ALLOWED = {
    "core": {"core"},
    "optim": {"core", "optim"},
    "synthetic": {"core", "optim", "synthetic"},
    "proofs_check": {"core", "optim", "synthetic", "proofs_check"},
    "figures": {"core", "figures"},
    "benchmarks": {"core", "optim", "synthetic", "benchmarks"},  # benchmarks time the library, sweeps included
    "app": {"core", "optim", "synthetic", "proofs_check", "figures", "benchmarks", "app"},
}


def ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_arrows_point_down(path):
    me = layer(dotted(path))
    bad = sorted(n for n in imports(path) if ours(n) and layer(n) not in ALLOWED[me])
    assert not bad, f"{path.relative_to(ROOT)} ({me}) imports {bad}: see ARCHITECTURE.md"


@pytest.mark.parametrize("path", [p for p in modules() if layer(dotted(p)) == "core"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_torch_only_through_backend(path):
    if path.name == "backend.py":
        return
    found = sorted(n for n in imports(path) if n == "torch" or n.startswith("torch."))
    assert not found, f"{path.relative_to(ROOT)} imports {found}; the core reaches torch through geomrelax.backend"


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_numba_only_in_its_kernel_module(path):
    # numba's import costs ~0.5 s and it is optional at run time: one module imports it, lazily reached
    if path.name == "_numba_kernels.py":
        return
    found = sorted(n for n in imports(path) if n.split(".")[0] in ("numba", "llvmlite"))
    assert not found, f"{path.relative_to(ROOT)} imports {found}; only geomrelax/optim/_numba_kernels.py may"


# Python's own evaluators, called as builtins; sympy's, called in any way (sympy.sympify, S(...) is not a call of these)
BUILTIN_EVALUATORS = {"eval", "exec", "compile", "__import__"}
SYMPY_EVALUATORS = {"sympify", "parse_expr", "lambdastr", "parse_latex"}


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_from_strings(path):
    """A formula is data: nothing in the project evaluates a string as Python (sympify and parse_expr do)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in BUILTIN_EVALUATORS | SYMPY_EVALUATORS:
                bad.append(f"{f.id} (line {node.lineno})")
            elif isinstance(f, ast.Attribute) and (f.attr in SYMPY_EVALUATORS
                                                   or (f.attr in BUILTIN_EVALUATORS and isinstance(f.value, ast.Name)
                                                       and f.value.id == "builtins")):
                bad.append(f"{f.attr} (line {node.lineno})")
    assert not bad, f"{path.relative_to(ROOT)} calls {bad}"


@pytest.mark.parametrize("path", [p for p in modules() if p.parts[len(ROOT.parts)] == "geomrelax"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_rooms_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines: split it by concern"


def test_import_geomrelax_stays_light():
    code = ("import sys, geomrelax; heavy = [m for m in ('torch', 'numba', 'sympy', 'cvxpy', 'matplotlib', 'synthetic', "
            "'proofs_check', 'figures') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "", f"import geomrelax loaded {out.stdout.strip()}"

"""The package's shape: small modules and functions, one place that spells repository paths.

These read the source (``src/lowops``) as text and syntax trees; they run nothing.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lowops"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

# Modules allowed past MAX_MODULE_LINES, each with its reason.
LONG_MODULES = {
    # Five grains of window (daily to yearly) with their label grammar, DST-safe bounds and the
    # future/skew checks; more than half of it is docstrings with examples that the tests rely on.
    "windows.py": "the one definition of a time window, half of it documentation",
    # One pydantic model per section of lowops.yaml with its documented defaults: the whole schema in one
    # place, read top to bottom against config/lowops.yaml.
    "config_schema.py": "the configuration's schema, one section after another as lowops.yaml has them",
}
# Functions allowed past MAX_FUNCTION_LINES, each with its reason.
LONG_FUNCTIONS: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _relative(path: Path) -> str:
    return str(path.relative_to(SRC))


def test_every_package_has_a_face() -> None:
    packages = {p.parent for p in _modules() if p.parent != SRC}
    assert sorted(_relative(p) for p in packages if not (p / "__init__.py").is_file()) == []


def test_stages_hold_at_most_eight_modules() -> None:
    modules = sorted(p.name for p in (SRC / "stages").glob("*.py"))
    assert len(modules) <= 8, modules


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if _relative(path) in LONG_MODULES:
        assert lines > MAX_MODULE_LINES, f"{_relative(path)} is short again: drop it from LONG_MODULES"
        return
    assert lines <= MAX_MODULE_LINES, f"{_relative(path)} has {lines} lines (at most {MAX_MODULE_LINES})"


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            assert node.end_lineno is not None
            found.append((f"{_relative(path)}:{node.name}", node.end_lineno - node.lineno + 1))
    return found


def test_functions_stay_short() -> None:
    too_long = {name: lines for path in _modules() for name, lines in _functions(path)
                if lines > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS}
    assert too_long == {}
    for name in LONG_FUNCTIONS:
        lines = dict(f for path in _modules() for f in _functions(path)).get(name, 0)
        assert lines > MAX_FUNCTION_LINES, f"{name} is short again: drop it from LONG_FUNCTIONS"


# ----------------------------------------------------------------------------- repository paths

# The entries of repo/ and the files lowops writes there: only io/layout.py may spell them.
REPO_DIRS = ("data", "models", "deploy", "outputs", "monitoring", "runs", "logs", "reports")
REPO_FILES = (".lock", "audit.log", "audit.head", "lowops.log", "metrics.log", "decision.txt", "verdict.json",
              "model_drift.txt", "data_drift.csv", "impact.csv", "index.html", "manifest.json", "model.skops",
              "model.joblib", "model.json", "SHA256SUMS", "metrics.txt", "reference.json", "reference_sample.parquet",
              "sweetviz_compare.html")
REPO_PREFIXES = ("predictions-", "slots-", "decision-")
_PATH_TEXT = re.compile(r"(^|[\s'\"(/])(" + "|".join(REPO_DIRS) + r")/")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _help_texts(tree: ast.AST) -> set[int]:
    """Option help (``help="..."``) documents paths for people; it builds none."""
    return {id(k.value) for node in ast.walk(tree) if isinstance(node, ast.Call) for k in node.keywords
            if k.arg == "help" and isinstance(k.value, ast.Constant)}


def _spells_a_path(value: str, joined: bool) -> bool:
    if value in REPO_FILES or value.startswith(REPO_PREFIXES):
        return True
    if joined and value in REPO_DIRS:  # repo / "models": a path built by hand
        return True
    return bool(_PATH_TEXT.search(value))


def repository_paths(source: str) -> list[tuple[int, str]]:
    """Every place in ``source`` that spells a path under repo/ (docstrings and option help aside)."""
    tree = ast.parse(source)
    skip = _docstrings(tree) | _help_texts(tree)
    joined = {id(side) for node in ast.walk(tree) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
              for side in (node.left, node.right)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if _spells_a_path(node.value, id(node) in joined):
                found.append((node.lineno, node.value))
    return sorted(found)


def test_no_repository_path_is_spelled_outside_the_layout() -> None:
    spelled = {f"{_relative(path)}:{line}": text for path in _modules() if _relative(path) != "io/layout.py"
               for line, text in repository_paths(path.read_text(encoding="utf-8"))}
    assert spelled == {}


@pytest.mark.parametrize("source", [
    'path = repo / "monitoring" / window',
    'path = ctx.repo / "outputs" / window / f"predictions-{run}.csv"',
    'text = "see monitoring/" + window',
    'name = "decision.txt"',
    'message = f"Decision: {repo}/monitoring/{window}/decision.txt"',
])
def test_the_path_check_finds_a_spelled_path(source: str) -> None:
    assert repository_paths(source) != []


@pytest.mark.parametrize("source", [
    '"""Writes monitoring/<window>/verdict.json."""',
    'click.option("--output", help="instead of REPO/reports/index.html")',
    'lineage = {"data": used, "models": 3}',
    'message = f"{path} is not valid JSON"',
])
def test_the_path_check_leaves_prose_and_keys_alone(source: str) -> None:
    assert repository_paths(source) == []

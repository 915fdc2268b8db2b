"""The layout rules of docs/architecture.md, checked on the source (no imports run).

* no import cycle among ytqa's modules, at import time (imports under
  ``if TYPE_CHECKING:`` and inside functions do not run when a module loads);
* ``ytqa/cli.py``, ``ytqa/web/`` and ``examples/`` import no private ytqa name;
* the manifest's keys are spelled in ``ytqa/index/_manifest.py`` only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ytqa"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _load_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The imports a module runs when it loads: at top level (and in top-level
    ``if``/``try`` blocks), not under ``if TYPE_CHECKING:``, not in functions."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return found


def _all_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _run_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import that may run, inside functions too (not under ``if TYPE_CHECKING:``)."""
    types_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node)
        for inner in ast.walk(node)
    }
    return [n for n in _all_imports(tree) if id(n) not in types_only]


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> set[str]:
    """The ytqa modules *node* (in *module*) makes load."""
    targets: set[str] = set()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, *([base] if base else [])])
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    # A module's own packages are loading already when it loads (Python lets a
    # submodule import from its partly made package): no edge.
    ancestors = {".".join(module.split(".")[:end]) for end in range(1, module.count(".") + 1)}
    for name in names:
        parts = name.split(".")
        # Importing a.b.c loads a, a.b and a.b.c.
        for end in range(1, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in MODULES and candidate != module and candidate not in ancestors:
                targets.add(candidate)
    return targets


def _graph(*, run_time: bool = False) -> dict[str, set[str]]:
    imports = _run_time_imports if run_time else _load_time_imports
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = set().union(*[_targets(n, module) for n in imports(tree)])
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    assert "ytqa.index.video_index" in graph["ytqa.index.doctor"]
    assert "ytqa.index" in graph["ytqa.retrieval"]


def test_no_import_cycle_among_ytqa_modules() -> None:
    assert _cycles(_graph()) == []


# errors.py formats two messages with helpers of modules that raise its errors; the
# helpers are imported when the message is made.
MESSAGE_HELPERS = {("ytqa.errors", "ytqa.video"), ("ytqa.errors", "ytqa.config")}


def test_no_import_cycle_even_through_imports_made_in_functions() -> None:
    graph = _graph(run_time=True)
    for module, target in MESSAGE_HELPERS:
        graph[module].discard(target)
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def _private_names(path: Path) -> list[str]:
    """``ytqa`` names *path* imports that are private (a ``_`` module or name), besides
    its own package's modules (``ytqa.web._app`` may import ``ytqa.web._service``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = "ytqa.web" if PACKAGE / "web" in path.parents else None
    found = []
    for node in _all_imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif node.level:
            continue  # relative: the package's own modules
        else:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if not name.startswith("ytqa"):
                continue
            if own and name.startswith(own + "."):
                continue
            if any(part.startswith("_") and part != "__version__" for part in name.split(".")):
                found.append(name)
    return found


PUBLIC_ONLY = [PACKAGE / "cli.py", *sorted((PACKAGE / "web").glob("*.py")),
               *sorted((ROOT / "examples").glob("*.py"))]


@pytest.mark.parametrize("path", PUBLIC_ONLY, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_web_and_examples_import_only_public_names(path: Path) -> None:
    assert _private_names(path) == []


def test_the_private_name_check_finds_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from ytqa.index._manifest import READY\nfrom ytqa import VideoIndex\n")
    assert _private_names(sample) == ["ytqa.index._manifest.READY"]


# The manifest's own spellings: the key that marks a manifest collection, the key of a
# chunk row's video version, and a record's state key next to its values.
MANIFEST_SPELLINGS = re.compile(
    r"ytqa_manifest_of|ytqa_fingerprint|[\"']state[\"']\s*[:\]),]"
    r"|[\"'](?:pending|ready|removed)[\"']\s*[:=]=?|==\s*[\"'](?:pending|ready|removed)[\"']"
)


def _manifest_spellings(text: str) -> list[str]:
    return [match.group() for match in MANIFEST_SPELLINGS.finditer(text)]


def test_only_the_manifest_module_spells_the_manifest_keys() -> None:
    owner = PACKAGE / "index" / "_manifest.py"
    spelled = {
        str(path.relative_to(ROOT)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != owner and (found := _manifest_spellings(path.read_text(encoding="utf-8")))
    }
    assert spelled == {}
    assert _manifest_spellings(owner.read_text(encoding="utf-8"))


def test_the_manifest_check_finds_a_key() -> None:
    assert _manifest_spellings('found = manifest.get(where={"state": "ready"})') == ['"state":']
    assert _manifest_spellings('if meta.get("ytqa_manifest_of"):') == ["ytqa_manifest_of"]

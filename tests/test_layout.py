"""The layout holds: service/ never reaches into scripts/, and no module imports itself back."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from scripts.pipeline.params import PROJECT_ROOT

PACKAGES = ("service", "scripts")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, package: str) -> set[str]:
    """Return every project module `tree` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def import_graph() -> dict[str, set[str]]:
    modules = {
        module_name(path): path
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
    }
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = imported(ast.parse(path.read_text()), package)
        # `from service.validation import gx_engine` names a module; `import CompiledSuite`
        # from a package names the package itself.
        graph[name] = {t for t in targets if t in modules and t != name} | {
            t.rsplit(".", 1)[0]
            for t in targets
            if t not in modules and t.rsplit(".", 1)[0] in modules and t.rsplit(".", 1)[0] != name
        }
    return graph


def test_the_graph_sees_the_service_modules():
    graph = import_graph()
    assert "service.scoring.core" in graph["service.service"]
    assert "service.validation.gx_engine" in graph["service.validation.compiled"]


def test_service_never_imports_scripts_or_notebooks():
    offenders = {
        name: sorted(t for t in targets if t.startswith("scripts"))
        for name, targets in import_graph().items()
        if name.startswith("service") and any(t.startswith("scripts") for t in targets)
    }
    assert offenders == {}


def test_no_import_cycle():
    graph = import_graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            # A package importing its own submodules to re-export them is not a cycle.
            if target.startswith(node + "."):
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_notebooks_import_only_what_exists():
    graph = import_graph()
    for notebook in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        targets = imported(ast.parse(code), "")
        missing = sorted(t for t in targets if t not in graph and t.rsplit(".", 1)[0] not in graph)
        assert missing == [], notebook.name


def test_test_modules_have_unique_names():
    # The test folders are not packages: two modules of one name stop pytest's collection.
    names = [path.name for path in (PROJECT_ROOT / "tests").rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []

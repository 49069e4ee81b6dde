"""The layout holds: service/ never reaches into scripts/, the core stays free of the serving
packages and of BentoML, and no module imports itself back."""

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
    assert "service.scoring.core" in graph["service.runtime"]
    assert "service.runtime" in graph["service.service"]
    assert "service.validation.gx_engine" in graph["service.validation.compiled"]


def test_service_never_imports_scripts_or_notebooks():
    offenders = {
        name: sorted(t for t in targets if t.startswith("scripts"))
        for name, targets in import_graph().items()
        if name.startswith("service") and any(t.startswith("scripts") for t in targets)
    }
    assert offenders == {}


# What Spark ships to its executors and batch imports: the model contract, scoring and
# validation stay free of the HTTP edge, observability, candidate traffic and BentoML.
CORE = ("service.model", "service.scoring", "service.validation")
SERVING_ONLY = (
    "service.http",
    "service.open_inference",
    "service.observe",
    "service.traffic",
    "service.runtime",
    "service.service",
)
# Reading and saving the store is BentoML's job; the rest of the contract is plain files.
BENTOML_ALLOWED = {"service.model.store"}


def top_imports(tree: ast.AST) -> set[str]:
    """Return the top-level package of every module `tree` imports."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_core_never_imports_serving_packages():
    offenders = {
        name: sorted(t for t in targets if t.startswith(SERVING_ONLY))
        for name, targets in import_graph().items()
        if name.startswith(CORE) and any(t.startswith(SERVING_ONLY) for t in targets)
    }
    assert offenders == {}


def test_core_never_imports_bentoml_but_the_store():
    offenders = sorted(
        module_name(path)
        for package in CORE
        for path in (PROJECT_ROOT / package.replace(".", "/")).rglob("*.py")
        if module_name(path) not in BENTOML_ALLOWED
        and "bentoml" in top_imports(ast.parse(path.read_text()))
    )
    assert offenders == []


def test_the_layer_rules_see_the_core():
    # The rules above pass vacuously if the packages move: they must find what they guard.
    graph = import_graph()
    assert "service.scoring.core" in graph and "service.model.version" in graph
    assert "bentoml" in top_imports(
        ast.parse((PROJECT_ROOT / "service/model/store.py").read_text())
    )


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

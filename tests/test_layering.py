"""The package's layering: no litcls module imports, even lazily inside a function, one that imports it back.

A cycle is how "run dispatches to crossval, crossval borrows from run" starts; see the layer list in
:mod:`litcls.runs.dispatch`.
"""

import ast
from pathlib import Path

import networkx as nx

import litcls

PACKAGE = Path(litcls.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The litcls modules ``path`` imports anywhere in its body (``from litcls.x import y`` counts ``litcls.x``
    and, when ``y`` is a module, ``litcls.x.y``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & known


def import_graph() -> nx.DiGraph:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in files.items():
        graph.add_node(name)
        for target in imported_modules(path, set(files)):
            # a module's own package __init__ runs first anyway; importing it from inside is no cycle of ours
            if target != name and not name.startswith(target + "."):
                graph.add_edge(name, target)
    return graph


def test_litcls_modules_import_without_cycles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle + cycle[:1]) for cycle in cycles[:5])


def test_one_run_sits_below_its_orchestration():
    graph = import_graph()
    below_fit = nx.descendants(graph, "litcls.runs.fit")
    assert not {"litcls.runs.dispatch", "litcls.runs.crossval", "litcls.runs.resume", "litcls.cli.train"} & below_fit
    assert "litcls.runs.fit" in nx.descendants(graph, "litcls.runs.crossval")
    assert {"litcls.runs.fit", "litcls.runs.crossval"} <= nx.descendants(graph, "litcls.runs.resume")

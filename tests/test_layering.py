"""The package's layering, at two scales: no litcls module imports, even lazily inside a function, one that
imports it back; and no part (a subpackage, or a top-level module) imports a part above it in the layer table of
the package docstring (:mod:`litcls`), or one that imports it back.

A cycle is how "run dispatches to crossval, crossval borrows from run" starts; between parts it is how a package
of pure functions ends up finding callbacks inside the trainer.
"""

import ast
import re
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


def part_of(module: str) -> str:
    """``litcls.runs.fit`` -> ``runs``; ``litcls.errors`` -> ``errors``."""
    return module.split(".")[1]


def stated_layers() -> list[list[str]]:
    """The layer table of the package docstring, lowest first: each line's parts before its description."""
    table = litcls.__doc__.split("::", 1)[1]
    return [re.split(r",\s*", line.strip().split("  ")[0]) for line in table.strip().splitlines() if line.strip()]


def part_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    for source, target in import_graph().edges:
        if source != "litcls" and target != "litcls" and part_of(source) != part_of(target):
            graph.add_edge(part_of(source), part_of(target))
    return graph


def test_every_part_has_a_layer():
    parts = {part_of(name) for name in import_graph().nodes if name != "litcls"}
    stated = [part for layer in stated_layers() for part in layer]
    assert len(stated) == len(set(stated)), f"a part stands on two lines of the layer table: {stated}"
    assert parts == set(stated), (f"parts missing from litcls/__init__.py's layer table: "
                                  f"{sorted(parts - set(stated))}; stated but absent: {sorted(set(stated) - parts)}")


def test_parts_import_only_their_layer_and_below():
    level = {part: index for index, layer in enumerate(stated_layers()) for part in layer}
    upward = [f"{source} -> {target}" for source, target in part_graph().edges if level[target] > level[source]]
    assert not upward, "parts importing a part above them: " + "; ".join(sorted(upward))


def test_parts_import_without_cycles():
    cycles = list(nx.simple_cycles(part_graph()))
    assert not cycles, "parts importing each other: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles[:5])


def test_at_most_twelve_top_level_modules():
    modules = sorted(path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert len(modules) <= 12, f"{len(modules)} modules at the top of litcls: group them into a subpackage ({modules})"

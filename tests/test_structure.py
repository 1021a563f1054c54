"""The shape of the packages: imports run one way, no circles, small modules and functions.

The import graph is read from the source (``ast``), every ``import`` counted, those inside
functions too, so a circle cannot hide behind a late import. The rooms and their order:

    hpo (base) < trainers: data < evaluation < models < tasks < engine < runs
               < search: algorithms < config < run | results < cli

A module may import its own room and the rooms before it. ``search.run`` and ``search.results``
share a rank and never import each other: the CLI ties them together. An import inside a
function is allowed only to keep a heavy library (or a heavy part of hpo) off a light path, and
says so in a comment on its line or the line above.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from hpo.paths import PROJECT_ROOT

# folder -> import name
PACKAGE_DIRS = {"hpo": "hpo", "search": "hpo.search", "trainers": "hpo.trainers"}
ROOMS = [  # (room, rank): a module's room is the longest prefix that matches
    ("hpo", 0),
    ("hpo.trainers", 1),
    ("hpo.trainers.data", 1),
    ("hpo.trainers.evaluation", 2),
    ("hpo.trainers.models", 3),
    ("hpo.trainers.tasks", 4),
    ("hpo.trainers.engine", 5),
    ("hpo.trainers.runs", 6),
    ("hpo.search", 10),
    ("hpo.search.algorithms", 10),
    ("hpo.search.config", 11),
    ("hpo.search.run", 12),
    ("hpo.search.results", 12),
    ("hpo.search.cli", 13),
    ("hpo.search.cli_model", 12.5),  # the commands that use a trained model (evaluate, predict): cli imports them
    ("hpo.__main__", 14),
]
# The CLI imports each command's modules inside that command, so ``hpo --help`` or ``hpo export``
# never pay for what another command runs; its docstring says so once, for every command.
LATE_IMPORTS_EXPLAINED_BY_MODULE = {"hpo.search.cli", "hpo.search.cli_model"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool
    commented: bool


def modules() -> dict[str, Path]:
    found = {}
    for folder, name in PACKAGE_DIRS.items():
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            if "metric_modules" in path.parts:  # evaluate modules loaded by path, not imported
                continue
            parts = path.relative_to(PROJECT_ROOT / folder).with_suffix("").parts
            dotted = ".".join((name, *parts)).removesuffix(".__init__")
            found[dotted] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    nested = {id(node) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
              for node in ast.walk(fn) if isinstance(node, ast.Import | ast.ImportFrom)}
    type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                 for node in ast.walk(block) if isinstance(node, ast.Import | ast.ImportFrom)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join(name.split(".")[: -node.level] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        commented = "#" in lines[node.lineno - 1] or _comment_above_block(lines, node.lineno - 1)
        for target in targets:
            found.append(Import(name, target, node.lineno, id(node) in nested, commented))
    return found


def _comment_above_block(lines: list[str], index: int) -> bool:
    """A comment on the line above the block of imports this one belongs to."""
    index -= 1
    while index >= 0 and lines[index].strip().startswith(("from ", "import ")):
        index -= 1
    return index >= 0 and lines[index].strip().startswith("#")


def room_rank(module: str) -> tuple[str, int]:
    room = max((r for r in ROOMS if module == r[0] or module.startswith(r[0] + ".")), key=lambda r: len(r[0]))
    return room


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Import]]:
    mods = modules()
    edges = [imp for name, path in mods.items() for imp in imports_of(name, path, set(mods))]
    return mods, edges


def test_every_module_has_a_room(graph) -> None:
    mods, _ = graph
    assert "hpo.search.cli" in mods and "hpo.trainers.runs.trial" in mods
    for name in mods:
        room_rank(name)  # raises on a module outside every room


def test_imports_run_one_way(graph) -> None:
    """A module imports only its own room and the rooms before it; the trainers never import the driver."""
    mods, edges = graph
    back = []
    for imp in edges:
        if imp.target not in mods:
            continue
        (src_room, src_rank), (dst_room, dst_rank) = room_rank(imp.source), room_rank(imp.target)
        if src_room != dst_room and (dst_rank > src_rank or (dst_rank == src_rank and dst_room != "hpo")):
            back.append(f"{imp.source}:{imp.line} imports {imp.target} ({src_room} -> {dst_room})")
    assert not back, "imports that run back up:\n" + "\n".join(back)


def test_no_import_circles(graph) -> None:
    mods, edges = graph
    adjacency: dict[str, set[str]] = {name: set() for name in mods}
    for imp in edges:
        if imp.target in mods and imp.target != imp.source:
            adjacency[imp.source].add(imp.target)
    state: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(adjacency[node]):
            if state.get(nxt) == 1:
                circles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(mods):
        if name not in state:
            visit(name)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_imports_inside_functions_say_why(graph) -> None:
    """A late import is a cost kept off a light path; the comment names it, so it is not a hidden circle."""
    _, edges = graph
    silent = [f"{imp.source}:{imp.line} imports {imp.target}" for imp in edges
              if imp.in_function and not imp.commented and imp.source not in LATE_IMPORTS_EXPLAINED_BY_MODULE]
    assert not silent, "imports inside functions without a comment saying why:\n" + "\n".join(silent)


def test_modules_and_functions_stay_small(graph) -> None:
    mods, _ = graph
    too_big = []
    for name, path in mods.items():
        source = path.read_text()
        if (count := len(source.splitlines())) > MAX_MODULE_LINES:
            too_big.append(f"{name}: {count} lines (max {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{name}.{node.name}: {length} lines (max {MAX_FUNCTION_LINES})")
    assert not too_big, "\n".join(too_big)

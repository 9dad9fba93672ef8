"""The package's imports form no cycle (the spec and the RLlib config used to import each
other), and envs/ imports nothing of marlrec."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]


def module_imports() -> dict[str, set[str]]:
    """Module -> the marlrec/envs modules it imports, at module level or inside a function
    (a lazy import keeps a heavy dependency off the light path; it does not make two
    modules that need each other one concept apart)."""
    graph: dict[str, set[str]] = {}
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
               for package in ("marlrec", "envs") for p in (ROOT / package).rglob("*.py")}
    for module in modules:
        path = ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / module.replace(".", "/") / "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            targets |= {n for n in names if n in modules and n != module}
        graph[module] = targets
    return graph


def test_no_import_cycles():
    graph = module_imports()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_envs_imports_nothing_of_marlrec():
    graph = module_imports()
    assert not {m: t for m, t in graph.items() if m.startswith("envs")
                and any(x.startswith("marlrec") for x in t)}

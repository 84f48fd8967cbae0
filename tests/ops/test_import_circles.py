"""No import circle anywhere in our code, a package's ``__init__`` and its own modules included.

import-linter's ``acyclic_siblings`` contract (pyproject) forbids circles between sibling modules and
packages; it does not see a package whose ``__init__`` imports a module that imports from the
package again (``bot.telegram.routers`` and ``routers.swap`` were such a pair: ``from
bot.telegram.routers import consent`` runs the package's ``__init__``). This walks grimp's graph of
direct imports (the one import-linter uses, imports under ``TYPE_CHECKING`` left out), with an edge
from an importer to every package above what it imports (importing ``a.b.c`` runs ``a/b/__init__``),
and fails on every strongly connected group of more than one module."""

from __future__ import annotations

import grimp

PACKAGES = ("engine", "db", "jobs", "bot", "swapbot", "migrations")


def runs(graph: grimp.ImportGraph, module: str) -> set[str]:
    """The modules whose code importing ``module`` runs directly: what it imports, and the packages
    above each of those (but not ``module`` itself)."""
    ran: set[str] = set()
    for imported in graph.find_modules_directly_imported_by(module):
        parts = imported.split(".")
        ran.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    ran.discard(module)
    return {name for name in ran if name in graph.modules}


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(runs(graph, module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_our_code_has_no_import_circle() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    assert circles(graph) == []


def test_the_walk_finds_a_package_and_its_module_importing_each_other() -> None:
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "other"):
        graph.add_module(module)
    graph.add_import(importer="pkg", imported="pkg.a")
    graph.add_import(importer="pkg.a", imported="pkg.b")  # "from pkg import b" runs pkg/__init__ too
    graph.add_import(importer="pkg.b", imported="other")
    assert circles(graph) == [["pkg", "pkg.a"]]
    graph.remove_import(importer="pkg", imported="pkg.a")
    assert circles(graph) == []

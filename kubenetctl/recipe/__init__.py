"""Recipes: a YAML file describing a lab, validated and compiled to the resource model.

    load (YAML, positions kept) -> parse (fields) -> check (whole file) -> compile (resources)

`compile_file` runs all of it and raises RecipeInvalid with every problem found, each
with file:line:column, the field path and a hint. Nothing here touches the kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional

from kubenetctl.errors import InvalidInput
from kubenetctl.recipe.compile import Compiled, compile_topology
from kubenetctl.recipe.load import Document, Problem, load, loads

if TYPE_CHECKING:  # pragma: no cover
    from kubenetctl.recipe.topology import Topology

__all__ = ["Compiled", "Problem", "RecipeInvalid", "analyse", "compile_analysed", "compile_document", "compile_file", "load", "loads"]


class RecipeInvalid(InvalidInput):
    """A recipe with problems; the CLI prints each one, then this summary."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''} found; nothing was changed")
        self.source = source
        self.problems = problems


def _order(problem: Problem) -> tuple:
    return (problem.pos is None, problem.pos.line if problem.pos else 0, problem.pos.column if problem.pos else 0)


def analyse(doc: Document, *, node: Optional[str] = None) -> tuple[Optional["Topology"], list[Problem]]:
    """Fields and whole-file rules: the topology (None when there are problems) and every problem."""
    from kubenetctl.recipe.check import check
    from kubenetctl.recipe.parse import parse
    from kubenetctl.recipe.topology import build

    problems = list(doc.problems)
    topo = None
    if doc.data is not None or not problems:
        recipe, found = parse(doc)
        problems += found
        topo = build(recipe)
        problems += check(topo)
        if node is not None and node not in topo.nodes:
            problems.append(Problem(("spec", "nodes"), f"--node {node}: the recipe has no node named {node!r}",
                                    hint="nodes: " + (", ".join(topo.nodes) or "none")))
    return (topo if not problems else None), located(doc, problems)


def located(doc: Document, problems: list[Problem]) -> list[Problem]:
    return sorted((doc.locate(p) for p in problems), key=_order)


def compile_document(
    doc: Document, *, node: Optional[str] = None, previous: Mapping[str, str] | None = None,
) -> tuple[Optional[Compiled], list[Problem]]:
    """The compiled lab and every problem of the document (compiled is None when there are problems)."""
    topo, problems = analyse(doc, node=node)
    if topo is None:
        return None, problems
    return compile_analysed(doc, topo, node, previous)


def compile_analysed(
    doc: Document, topo: "Topology", node: Optional[str], previous: Mapping[str, str] | None,
) -> tuple[Optional[Compiled], list[Problem]]:
    """compile_document's second half, for a caller that needed the topology first (the lab's name)."""
    compiled, found = compile_topology(topo, node, previous)
    return (None, located(doc, found)) if found else (compiled, [])


def compile_file(path: str, *, node: Optional[str] = None, previous: Mapping[str, str] | None = None) -> Compiled:
    doc = load(path)
    compiled, problems = compile_document(doc, node=node, previous=previous)
    if compiled is None:
        raise RecipeInvalid(doc.source, problems)
    return compiled

"""kubenetctl inspect: the whole network as a tree, a table, JSON/YAML or a graph."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli.common import G, verb
from kubenetctl.errors import InvalidInput
from kubenetctl.views.output import Format, console, emit


class GraphFormat(str, Enum):
    dot = "dot"
    mermaid = "mermaid"
    svg = "svg"
    png = "png"


def inspect(
    lab: Annotated[Optional[str], typer.Argument(help="Lab to show (default: everything on this host).", show_default=False)] = None,
    compact: Annotated[bool, typer.Option("--compact", help="A table, one row per interface, instead of the tree.")] = False,
    graph: Annotated[Optional[GraphFormat], typer.Option("--graph", help="Draw it: dot or mermaid text on stdout, svg or png into -O FILE (needs Graphviz).", case_sensitive=False)] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", "-O", help="File for --graph (required for svg and png).")] = None,
) -> None:
    """Show nodes, bridges, VXLAN tunnels, pods, interfaces and routes, marking what kubenetctl owns.

    Nodes and pods come from the topology: a namespace holding a bridge or a VXLAN device
    is a node, one whose veth peer sits in a node is a pod. Without LAB: every namespace
    on the host and the host itself.
    """
    if lab is not None:
        validate.netns_name(lab, "LAB")
    if graph in (GraphFormat.svg, GraphFormat.png) and out_file is None:
        raise InvalidInput(f"--graph {graph.value} writes an image: give the file with -O FILE",
                           hint=f"kubenetctl inspect --graph {graph.value} -O topology.{graph.value}")
    if out_file is not None and graph is None:
        raise InvalidInput("-O/--out goes with --graph", hint="kubenetctl inspect --graph svg -O topology.svg")
    if graph is not None:
        from kubenetctl.views.graph import check_output

        if G.output is not Format.table:
            raise InvalidInput("--graph and -o json/yaml exclude each other", hint="pick one")
        check_output(graph.value, str(out_file) if out_file is not None else None)
    from kubenetctl.inspect.document import build
    from kubenetctl.inspect.drift import drift
    from kubenetctl.inspect.gather import gather
    from kubenetctl.ownership import lab_owner

    seen = gather(lab)
    report = None
    if seen.state is not None:
        report = drift(seen.state.recorded, seen.topo.snap, owner=lab_owner(seen.lab or ""),
                       namespaces=seen.topo.namespaces())
    doc = build(seen.topo, lab=seen.lab, labs=seen.labs, drift=report)
    if graph is not None:
        _graph(doc, graph, out_file)
        return
    emit(doc, G.output, _human(compact))


def _human(compact: bool) -> Any:
    def render(doc: dict[str, Any]) -> Any:
        from kubenetctl.views import inspect_view

        return inspect_view.table(doc) if compact else inspect_view.tree(doc)
    return render


def _graph(doc: dict[str, Any], fmt: GraphFormat, out_file: Path | None) -> None:
    from kubenetctl.views import graph

    text = graph.mermaid(doc) if fmt is GraphFormat.mermaid else graph.dot(doc)
    if fmt in (GraphFormat.svg, GraphFormat.png):
        assert out_file is not None
        graph.render_image(text, fmt.value, str(out_file))
        console(stderr=True).print(f"wrote {out_file}")
    elif out_file is not None:
        graph.write_text(text, str(out_file))
        console(stderr=True).print(f"wrote {out_file}")
    else:
        sys.stdout.write(text)


inspect_app = verb(inspect)

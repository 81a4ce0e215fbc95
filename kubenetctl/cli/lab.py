"""The main job: apply, plan, validate, check and destroy labs from recipes; list labs.

The daily verbs are top-level (kubenetctl apply FILE, like kubectl and terraform);
reading the recorded labs is the `lab` group (lab list, lab show). Recipes, state and
the netlink layer are imported inside the commands, so `--help` and completion stay fast.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kubenetctl.cli.common import G, group, list_output, require_root, verb
from kubenetctl.errors import CheckFailed, KubenetError, PermissionDenied
from kubenetctl.views.output import document, emit

if TYPE_CHECKING:  # pragma: no cover
    from kubenetctl.recipe import RecipeInvalid
    from kubenetctl.state.store import Store

app = group("Recorded labs: list them, show one.")

FileArg = Annotated[str, typer.Argument(help="Recipe file (YAML, kind: Lab).", metavar="FILE", show_default=False)]
LabArg = Annotated[str, typer.Argument(help="Lab name (see 'kubenetctl lab list').", metavar="LAB", show_default=False)]
NodeOpt = Annotated[Optional[str], typer.Option(
    "--node", help="Only this node's part, onto this host (one apply per host builds a multi-host lab).")]
StateDirOpt = Annotated[Optional[str], typer.Option(
    "--state-dir", envvar="KUBENETCTL_STATE_DIR", show_envvar=True, help="Where labs are recorded [default: /var/lib/kubenetctl].")]
ProgressOpt = Annotated[Optional[bool], typer.Option(
    "--progress/--no-progress", help="Progress bar on stderr [default: when stderr is a terminal].", show_default=False)]


def _store(state_dir: Optional[str]) -> "Store":
    from kubenetctl.state.store import Store

    return Store(state_dir)


def _invalid(source: str, problems: list[Any]) -> "RecipeInvalid":
    """Every problem on stderr; the error to raise (exit 2) with the summary line."""
    from kubenetctl.recipe import RecipeInvalid

    for problem in problems:
        sys.stderr.write(f"kubenetctl: error: {problem.text(source)}\n")
        if problem.hint:
            sys.stderr.write(f"  hint: {problem.hint}\n")
    return RecipeInvalid(source, problems)


def _analyse(file: str, node: Optional[str]) -> tuple[Any, Any]:
    """(document, topology) of a valid recipe; every problem on stderr and exit 2 otherwise."""
    from kubenetctl.recipe import analyse, load

    doc = load(file)
    topo, problems = analyse(doc, node=node)
    if topo is None:
        raise _invalid(doc.source, problems)
    return doc, topo


def _compile(doc: Any, topo: Any, node: Optional[str], previous: Optional[dict[str, str]]) -> Any:
    from kubenetctl.recipe import compile_analysed

    compiled, problems = compile_analysed(doc, topo, node, previous)
    if compiled is None:
        raise _invalid(doc.source, problems)
    return compiled


def _progress_enabled(flag: Optional[bool]) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _ops(ops: list[Any]) -> list[dict[str, Any]]:
    return [op.to_dict() for op in ops]


# -- validate ------------------------------------------------------------------------------
def validate(file: FileArg, node: NodeOpt = None) -> None:
    """Check a recipe: every problem at once, with file:line:column, field path and a hint."""
    from kubenetctl.recipe import compile_document, load

    doc = load(file)
    compiled, problems = compile_document(doc, node=node)
    items = [p.to_dict(doc.source) for p in problems]
    info: dict[str, Any] = {"file": doc.source, "valid": compiled is not None}
    if compiled is not None:
        info.update(lab=compiled.lab, nodes=len(compiled.nodes), pods=len(compiled.pods), resources=len(compiled.resources),
                    expectations=len(compiled.expect))

    def human(_: dict[str, Any]) -> Any:
        if compiled is None:
            return None
        return (f"{doc.source}: valid: lab {compiled.lab}, {info['nodes']} nodes, {info['pods']} pods, "
                f"{info['resources']} kernel objects, {info['expectations']} expectations")

    if compiled is None:
        exc = _invalid(doc.source, problems)
        if G.output.value != "table":
            emit(document("ValidationResult", items, **info), G.output)
        raise exc
    emit(document("ValidationResult", items, **info), G.output, human)


# -- plan ----------------------------------------------------------------------------------
def plan(file: FileArg, node: NodeOpt = None, state_dir: StateDirOpt = None) -> None:
    """What apply would do, in order (no root needed; as root, only the difference with the kernel)."""
    doc, topo = _analyse(file, node)
    store = _store(state_dir)
    root = os.geteuid() == 0
    state = _read_state(store, topo.lab) if root else None
    compiled = _compile(doc, topo, node, state.allocations if state else None)
    if root:
        from kubenetctl.lab.engine import Engine
        from kubenetctl.netlink.session import Sessions

        with Sessions() as sessions:
            lab_plan = Engine(store, sessions).plan(compiled, state)
    else:
        from kubenetctl.lab.plan import apply_plan
        from kubenetctl.snapshot import Snapshot

        lab_plan = apply_plan(compiled.resources, compiled.adopt, Snapshot(), compiled.owner, None)
    summary = lab_plan.summary()

    def human(_: dict[str, Any]) -> Any:
        from kubenetctl.views.lab import plan_view

        return plan_view(compiled.lab, lab_plan.ops, summary, root, lab_plan.foreign)

    emit(document("Plan", _ops(lab_plan.ops), lab=compiled.lab, node=node, observed=root, summary=summary,
                  leftAlone=[r.to_dict() for r in lab_plan.foreign]), G.output, human)


def _read_state(store: "Store", lab: str) -> Any:
    try:
        return store.read(lab)
    except PermissionDenied:
        return None


# -- apply ---------------------------------------------------------------------------------
def apply(file: FileArg, node: NodeOpt = None, state_dir: StateDirOpt = None, progress: ProgressOpt = None) -> None:
    """Build or reconcile a lab: create what is missing, repair drift, remove what the recipe dropped."""
    doc, topo = _analyse(file, node)
    require_root("apply")
    from kubenetctl.lab.engine import Engine
    from kubenetctl.netlink.session import Sessions
    from kubenetctl.views.lab import applied_view, progress_bar

    store = _store(state_dir)
    with store.lock(topo.lab, create=True):
        state = store.read(topo.lab)
        compiled = _compile(doc, topo, node, state.allocations if state else None)
        with Sessions() as sessions, progress_bar(f"apply {topo.lab}", _progress_enabled(progress)) as bar:
            outcome = Engine(store, sessions).apply(compiled, file, doc.text, state, bar)
    if outcome.error is not None:
        err = outcome.error
        undone = f"undid the {len(outcome.undone)} changes it had made" if outcome.undone else "it had changed nothing"
        raise type(err)(f"{err.message} (apply stopped; {undone})", hint=err.hint, where=err.where)
    plan_ = outcome.plan
    assert plan_ is not None
    summary = plan_.summary()

    def human(_: dict[str, Any]) -> Any:
        return applied_view(compiled.lab, outcome.ops, summary, outcome.elapsed, plan_.adopt)

    emit(document("ApplyResult", _ops(outcome.ops), lab=compiled.lab, node=node, summary=summary,
                  adopted=[r.to_dict() for r in plan_.adopt], elapsedSeconds=round(outcome.elapsed, 3)), G.output, human)


# -- destroy -------------------------------------------------------------------------------
def destroy(
    lab: LabArg, state_dir: StateDirOpt = None, progress: ProgressOpt = None,
    missing_ok: Annotated[bool, typer.Option("--missing-ok", help="A lab that is not recorded (already destroyed) is success, not exit 3; for teardown scripts.")] = False,
) -> None:
    """Remove everything the lab created, from its recorded state (no recipe file needed)."""
    require_root("destroy")
    from kubenetctl.lab.engine import Engine
    from kubenetctl.netlink.session import Sessions
    from kubenetctl.views.lab import destroyed_view, progress_bar

    store = _store(state_dir)
    if missing_ok and not store.exists(lab):
        emit(document("DestroyResult", [], lab=lab, leftInPlace=[], elapsedSeconds=0.0), G.output,
             lambda _: f"lab {lab}: not recorded, nothing to destroy")
        return
    with store.lock(lab):
        state = store.read(lab)
        if state is None:
            store.remove(lab)  # an empty directory left by hand or an old crash
            raise store.missing(lab)
        with Sessions() as sessions, progress_bar(f"destroy {lab}", _progress_enabled(progress)) as bar:
            outcome = Engine(store, sessions).destroy(state, bar)
    plan_ = outcome.plan
    assert plan_ is not None
    if outcome.error is not None:
        raise type(outcome.error)(f"destroy of lab {lab} incomplete: {outcome.error.message}",
                                  hint="the lab is still recorded: fix the cause and run destroy again")

    def human(_: dict[str, Any]) -> Any:
        return destroyed_view(lab, outcome.ops, outcome.elapsed, plan_.foreign)

    emit(document("DestroyResult", _ops(outcome.ops), lab=lab, leftInPlace=[r.to_dict() for r in plan_.foreign],
                  elapsedSeconds=round(outcome.elapsed, 3)), G.output, human)


# -- check ---------------------------------------------------------------------------------
def check(
    lab: LabArg,
    all_pairs: Annotated[bool, typer.Option("--all", help="Also ping every pod from every pod (pingall).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for replies.", min=0.1, max=60)] = 1.0,
    state_dir: StateDirOpt = None,
) -> None:
    """Ping between pods and compare with the recipe's expectations (exit 7 when one fails)."""
    require_root("check")
    from kubenetctl.lab import check as checking
    from kubenetctl.views.lab import check_view

    store = _store(state_dir)
    state = store.read(lab)
    if state is None:
        raise store.missing(lab)
    rows = checking.run(checking.rows_for(state, all_pairs), timeout=timeout)
    summary = checking.summary(rows)
    failed = [r for r in rows if r.status == "fail"]
    traces = _explain(lab, failed[:EXPLAINED], store)
    by_row = {id(row): traces[i] for i, row in enumerate(failed) if i in traces}
    items = [{**r.to_dict(), **({"trace": by_row[id(r)]} if id(r) in by_row else {})} for r in rows]

    def human(_: dict[str, Any]) -> Any:
        from rich.console import Group
        from rich.text import Text

        from kubenetctl.views.trace_view import render

        parts: list[Any] = [check_view(lab, rows, summary)]
        for i, row in enumerate(failed[:EXPLAINED]):
            parts.append(Text(f"\nwhy {row.src} -> {row.dst} ({row.address}) "
                              f"{'does not reach' if row.expected else 'reaches'}:", style="bold"))
            doc = traces.get(i)
            parts.append(render(doc) if doc and "forward" in doc else Text(f"  trace unavailable: {doc and doc.get('error')}"))
        return Group(*parts)

    emit(document("CheckResult", items, lab=lab, summary=summary), G.output, human)
    if summary["fail"]:
        first = failed[0]
        target = first.dst if first.dst == first.address else f"{first.dst} ({first.address})"
        raise CheckFailed(
            f"lab {lab}: {len(failed)} of {summary['pass'] + summary['fail']} expectations failed "
            f"(first: {first.src} -> {target} should {'' if first.expected else 'not '}reach)",
            hint="-o json lists every pair with what happened",
        )


EXPLAINED = 5  # failed pairs explained with a trace (one read of the lab for all of them)


def _explain(lab: str, failed: list[Any], store: "Store") -> dict[int, dict[str, Any]]:
    """The trace of each failed pair, by its index: where the packet stops and why (or,
    for a pair that should not reach, the path that lets it through). A node sender is
    traced from its namespace (the host's with --node)."""
    from kubenetctl.inspect.gather import explain, gather

    if not failed:
        return {}
    try:
        seen = gather(lab, store)
    except KubenetError as exc:
        return {i: {"error": str(exc)} for i in range(len(failed))}
    out: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(failed):
        src = row.src if row.src in seen.pods else (row.netns or "host")
        try:
            out[i] = explain(lab, src, row.address, seen).to_dict()
        except KubenetError as exc:
            out[i] = {"error": str(exc)}
    return out


# -- lab list / show -----------------------------------------------------------------------
@app.command("list")
def list_(state_dir: StateDirOpt = None) -> None:
    """Labs recorded on this machine, with their state (reads files only: no root needed to list your own)."""
    store = _store(state_dir)
    rows = []
    for name in store.names():
        try:
            state = store.read(name)
        except KubenetError as exc:
            rows.append({"name": name, "status": "unreadable", "error": exc.message})
            continue
        if state is None:
            continue
        rows.append({
            "name": name, "status": state.status, "node": state.node, "pods": len(state.pods),
            "objects": len(state.created), "adopted": len(state.adopted), "expectations": len(state.expect),
            "recipe": state.recipe.get("path"), "updated": state.updated,
        })
    list_output("LabList", ["NAME", "STATUS", "NODE", "PODS", "OBJECTS", "RECIPE", "UPDATED"], rows,
                ["name", "status", "node", "pods", "objects", "recipe", "updated"])


@app.command("show")
def show(lab: LabArg, state_dir: StateDirOpt = None) -> None:
    """One lab's record: its pods and addresses, what it created and adopted."""
    store = _store(state_dir)
    state = store.read(lab)
    if state is None:
        raise store.missing(lab)

    def human(_: dict[str, Any]) -> Any:
        from rich.console import Group
        from rich.text import Text

        from kubenetctl.views.output import table

        pods = table(["POD", "NODE", "NETNS", "ADDRESSES"], [
            [p["name"], p.get("node") or "-", p.get("netns") or "(host)",
             ", ".join(f"{n}={a}" for n, a in p["addresses"].items())] for p in state.pods
        ])
        by_type: dict[str, int] = {}
        for d in state.created.values():
            by_type[d["type"]] = by_type.get(d["type"], 0) + 1
        made = ", ".join(f"{n} {t}" for t, n in sorted(by_type.items())) or "nothing"
        head = Text(f"lab {state.lab} ({state.status}{', node ' + state.node if state.node else ''}), recipe "
                    f"{state.recipe.get('path', '?')}, updated {state.updated}\ncreated: {made}; adopted: {len(state.adopted)}\n")
        return Group(head, pods)

    record = {k: v for k, v in state.to_dict().items() if k not in ("apiVersion", "kind")}
    emit(document("Lab", None, **record), G.output, human)


apply_app, plan_app, validate_app = verb(apply), verb(plan), verb(validate)
check_app, destroy_app = verb(check), verb(destroy)

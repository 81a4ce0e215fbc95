"""How plans, apply/destroy results, checks and labs look for people (rich), and the
progress bar on stderr. Machine output goes through views/output.py's envelope."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from kubenetctl.views.output import console, table

ACTION_STYLE = {"create": "green", "update": "yellow", "replace": "yellow", "delete": "red"}
MAX_LISTED = 60  # longer change lists are summarised in table output (-o json has them all)


def op_lines(ops: list[Any], limit: Optional[int] = MAX_LISTED) -> Any:
    from rich.text import Text

    out = Text()
    shown = ops if limit is None else ops[:limit]
    for op in shown:
        out.append(f"{op.action:<8}", style=ACTION_STYLE.get(op.action, ""))
        out.append(f" {op.resource.describe()}")
        if op.peer is not None:
            out.append(f" <-> {op.peer.describe()}", style="dim")
        if op.changes:
            out.append(f": {op.changes_text()}", style="dim")
        out.append("\n")
    if limit is not None and len(ops) > limit:
        out.append(f"... and {len(ops) - limit} more (-o json lists every one)\n", style="dim")
    return out


def counts(summary: dict[str, int]) -> str:
    return ", ".join(f"{n} to {action}" for action, n in summary.items() if n) or "nothing to do"


def plan_view(lab: str, ops: list[Any], summary: dict[str, int], observed: bool, foreign: list[Any]) -> Any:
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = []
    if not observed:
        parts.append(Text("(not root: planned against an empty machine; run as root to compare with the kernel)\n", style="dim"))
    if not ops:
        parts.append(Text(f"No changes: lab {lab} matches the recipe."))
    else:
        parts.append(op_lines(ops, limit=None))
        parts.append(Text(f"Plan for lab {lab}: {counts(summary)}."))
    for res in foreign:
        parts.append(Text(f"left alone: {res.describe()} (no longer carries lab {lab}'s marker)", style="yellow"))
    return Group(*parts)


def applied_view(lab: str, ops: list[Any], summary: dict[str, int], elapsed: float, adopted: list[Any]) -> Any:
    from rich.console import Group
    from rich.text import Text

    done = {"create": "created", "update": "updated", "replace": "replaced", "delete": "deleted"}
    parts: list[Any] = []
    if ops:
        parts.append(op_lines(ops))
    for res in adopted:
        parts.append(Text(f"adopted  {res.describe()} (destroy leaves it in place)", style="cyan"))
    if not ops:
        parts.append(Text(f"lab {lab}: no changes, it matches the recipe ({elapsed:.2f} s)"))
    else:
        text = ", ".join(f"{n} {done[a]}" for a, n in summary.items() if n)
        parts.append(Text(f"lab {lab}: {text} ({elapsed:.2f} s)"))
    return Group(*parts)


def destroyed_view(lab: str, ops: list[Any], elapsed: float, foreign: list[Any]) -> Any:
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = [op_lines(ops)] if ops else []
    for res in foreign:
        parts.append(Text(f"left in place: {res.describe()} (it does not carry lab {lab}'s marker)", style="yellow"))
    parts.append(Text(f"lab {lab} destroyed: {len(ops)} deletions ({elapsed:.2f} s)"))
    return Group(*parts)


MARK = {"pass": ("ok", "green"), "fail": ("FAIL", "bold red"), "observed": ("seen", "dim"), "skipped": ("skip", "dim")}


def check_view(lab: str, rows: list[Any], summary: dict[str, int]) -> Any:
    """One line per pair, then the from x to matrix (reach: R, blocked: -, failed: !)."""
    from rich.console import Group
    from rich.text import Text

    lines = []
    for row in rows:
        word, style = MARK[row.status]
        expected = "-" if row.expected is None else ("reach" if row.expected else "no reach")
        got = "-" if row.reached is None else ("reached" if row.reached else "no reply")
        lines.append([Text(word, style=style), row.src, row.dst, row.address, row.network or "-", expected, got,
                      "" if row.rtt_ms is None else f"{row.rtt_ms:.2f} ms"])
    detail = table(["", "FROM", "TO", "ADDRESS", "NETWORK", "EXPECTED", "GOT", "RTT"], [[str(c) for c in line] for line in lines])
    parts: list[Any] = [detail]
    senders = list(dict.fromkeys(r.src for r in rows))
    targets = list(dict.fromkeys(r.dst for r in rows))
    if 1 < len(senders) * len(targets) <= 400:
        parts.append(Text(""))
        parts.append(matrix(senders, targets, rows))
    total = summary["pass"] + summary["fail"]
    verdict = Text(f"lab {lab}: {summary['pass']}/{total} expectations hold")
    if summary["observed"]:
        verdict.append(f", {summary['observed']} other pairs observed")
    if summary["skipped"]:
        verdict.append(f", {summary['skipped']} skipped (their sender runs on another host)")
    parts.append(verdict)
    return Group(*parts)


def matrix(senders: list[str], targets: list[str], rows: list[Any]) -> Any:
    from rich.table import Table

    cell = {}
    for row in rows:
        if row.reached is None:
            mark = ("?", "dim")
        elif row.status == "fail":
            mark = ("!" + ("R" if row.reached else "-"), "bold red")
        else:
            mark = ("R" if row.reached else "-", "green" if row.status == "pass" else "dim")
        cell[(row.src, row.dst)] = mark
    t = Table(title="reachability (R reached, - no reply, ! not as expected, ? not run, . not tested)",
              box=None, title_justify="left", pad_edge=False)
    t.add_column("from \\ to", style="bold")
    for dst in targets:
        t.add_column(dst, justify="center")
    for src in senders:
        t.add_row(src, *[_styled(cell.get((src, dst))) for dst in targets])
    return t


def _styled(mark: Optional[tuple[str, str]]) -> Any:
    from rich.text import Text

    return Text(".", style="dim") if mark is None else Text(mark[0], style=mark[1])


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[Optional[Callable[[int], Callable[[Any], None]]]]:
    """A progress bar on stderr for long work; yields start(total) -> advance(op), or None."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console(stderr=True), transient=True) as progress:
        def start(total: int) -> Callable[[Any], None]:
            task = progress.add_task(label, total=total)
            return lambda op: progress.advance(task)

        yield start

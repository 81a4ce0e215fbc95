"""Predicted path against what the probe captured: seen / not seen, and where it vanished (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from kubenetctl.topology import ns_label
from kubenetctl.trace.model import Hop, Path, Point, Trace
from kubenetctl.trace.packets import Flow, Seen


@dataclass(frozen=True)
class Observed:
    """What a probe captured on one interface (probe.ProbeRun.captures holds these)."""

    point: Point
    seen: Seen
    at: float = 0.0


@dataclass
class PathCheck:
    seen: list[bool] = field(default_factory=list)  # one per predicted hop
    blocked_seen: bool | None = None  # the point after a predicted stop: must stay dark
    vanished: int | None = None  # index of the first hop not seen

    def to_dict(self, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {"seen": list(self.seen), "vanishedAt": None}
        if self.vanished is not None and self.vanished < len(path.hops):
            out["vanishedAt"] = {"hop": self.vanished + 1, **path.hops[self.vanished].point.to_dict()}
        if self.blocked_seen is not None:
            out["blockedSeen"] = self.blocked_seen
        return out


@dataclass
class ProbeReport:
    forward: PathCheck
    reply: PathCheck | None
    agrees: bool
    summary: str
    send_error: str | None = None
    errors: list[str] = field(default_factory=list)  # ICMP errors seen about the probe
    elapsed: float = 0.0

    def to_dict(self, trace: Trace) -> dict[str, Any]:
        return {
            "agrees": self.agrees,
            "summary": self.summary,
            "sendError": self.send_error,
            "icmpErrors": list(self.errors),
            "forward": self.forward.to_dict(trace.forward),
            "reply": self.reply.to_dict(trace.reply) if self.reply is not None and trace.reply is not None else None,
            "elapsedSeconds": round(self.elapsed, 3),
        }


def _matches(hop_point: Point, hop: Hop | None, obs: Observed, flow: Flow, reply: bool) -> bool:
    if obs.point != hop_point:
        return False
    if obs.seen.error is not None:
        # the destination's own ICMP error (port unreachable for UDP) travels the reply path
        return reply and obs.seen.flow == flow.reversed() and obs.seen.error_from == flow.src
    if obs.seen.flow != flow:
        return False
    if reply != obs.seen.is_reply and flow.proto != "udp":
        return False
    if hop is not None and hop.encap is not None and obs.seen.vni is not None and obs.seen.vni != hop.encap["vni"]:
        return False
    return True


def check_path(path: Path, captures: Sequence[Observed], flow: Flow, *, reply: bool) -> PathCheck:
    out = PathCheck()
    for hop in path.hops:
        out.seen.append(any(_matches(hop.point, hop, c, flow, reply) for c in captures))
    if path.stop is not None and path.stop.blocked is not None:
        out.blocked_seen = any(_matches(path.stop.blocked, None, c, flow, reply) for c in captures)
    out.vanished = next((i for i, s in enumerate(out.seen) if not s), None)
    return out


def points(trace: Trace) -> list[Point]:
    """Every interface the probe must watch."""
    out: list[Point] = []
    for path in (trace.forward, trace.reply):
        if path is None:
            continue
        out.extend(h.point for h in path.hops)
        if path.stop is not None and path.stop.blocked is not None:
            out.append(path.stop.blocked)
    return list(dict.fromkeys(out))


def all_expected_seen(trace: Trace, flow: Flow) -> Callable[[Sequence[Observed]], bool]:
    """A `done` callback for the probe: stop early once every predicted hop was seen
    (only when the prediction is a delivery: a predicted stop waits the whole timeout)."""
    def done(captures: Sequence[Observed]) -> bool:
        if not trace.ok:
            return False
        fwd = check_path(trace.forward, captures, flow, reply=False)
        if fwd.vanished is not None:
            return False
        if trace.reply is None:
            return True
        return check_path(trace.reply, captures, flow.reversed(), reply=True).vanished is None
    return done


def compare(trace: Trace, captures: Sequence[Observed], flow: Flow, send_error: str | None = None,
            elapsed: float = 0.0) -> ProbeReport:
    fwd = check_path(trace.forward, captures, flow, reply=False)
    rep = check_path(trace.reply, captures, flow.reversed(), reply=True) if trace.reply is not None else None
    errors = _icmp_errors(captures, flow)
    if trace.forward.stop is not None:
        agrees = fwd.vanished is None and fwd.blocked_seen is not True
        last = trace.forward.hops[-1] if trace.forward.hops else None
        if agrees:
            after = f"after hop {len(trace.forward.hops)} ({last.dev} in {ns_label(last.netns)})" if last else \
                "before the first hop"
            summary = f"as predicted: the probe vanished {after}"
        elif fwd.blocked_seen:
            summary = (f"the probe went further than predicted: it was seen on {trace.forward.stop.blocked.dev} "  # type: ignore[union-attr]
                       f"in {ns_label(trace.forward.stop.blocked.netns)}")  # type: ignore[union-attr]
        else:
            summary = _vanished_text(trace.forward, fwd, "forward")
        if send_error and trace.forward.stop.reason == "mtu" and "too long" in send_error:
            agrees = True
            summary = (f"as predicted: sending failed ({send_error})" if not trace.forward.hops else
                       f"as predicted, the packet is too big for the path: the source refused to send it ({send_error}), "
                       "having learned the path MTU from an earlier 'fragmentation needed'")
        return ProbeReport(fwd, rep, agrees, summary, send_error, errors, elapsed)
    agrees = fwd.vanished is None and (rep is None or rep.vanished is None)
    if agrees:
        summary = "as predicted: every hop seen, there and back" if rep is not None else "as predicted: every hop seen"
    elif fwd.vanished is not None:
        summary = _vanished_text(trace.forward, fwd, "forward")
    else:
        summary = _vanished_text(trace.reply, rep, "reply")  # type: ignore[arg-type]
    if send_error:
        summary += f"; sending failed: {send_error}"
    return ProbeReport(fwd, rep, agrees, summary, send_error, errors, elapsed)


def _icmp_errors(captures: Sequence[Observed], flow: Flow) -> list[str]:
    """ICMP errors about the probe, one line per error and sender, with where they were seen."""
    seen: dict[tuple[str, str | None], list[str]] = {}
    for c in captures:
        if c.seen.error and c.seen.flow == flow:
            where = f"{c.point.dev} in {ns_label(c.point.netns)}"
            places = seen.setdefault((c.seen.error, c.seen.error_from), [])
            if where not in places:
                places.append(where)
    return [f"{error} from {sender} (seen on {', '.join(places)})" for (error, sender), places in sorted(seen.items())]


def _vanished_text(path: Path, check: PathCheck, which: str) -> str:
    i = check.vanished
    assert i is not None
    hop = path.hops[i]
    before = f", last seen at hop {i} ({path.hops[i - 1].dev} in {ns_label(path.hops[i - 1].netns)})" if i else ""
    return (f"the {which} probe vanished at hop {i + 1}: not seen {hop.point.direction} {hop.dev} in "
            f"{ns_label(hop.netns)}{before}")

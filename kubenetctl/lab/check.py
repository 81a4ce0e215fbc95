"""`check`: the recipe's expectations proven with real packets (Mininet's pingall, done right).

The expectations were expanded at apply time into (from, to address) pairs and kept in
the lab's state, so check needs neither the recipe file nor a compile. Every pair is
pinged from the sender's namespace, all pairs at once; a pair passes when what happened
(reply or not) is what the recipe expects. With `all_pairs`, every pod also pings every
other pod (on a network both share, else the other's first network), and pairs without an
expectation are reported as observed only. Pairs whose sender runs on another host
(apply --node) are skipped here: run check on that host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from kubenetctl.lab.ping import Probe, ping_all
from kubenetctl.state.journal import LabState


@dataclass
class Row:
    src: str
    dst: str
    address: str
    network: Optional[str]
    expected: Optional[bool]  # None: no expectation (pingall only)
    netns: Optional[str]
    local: bool
    path: Optional[str] = None
    reached: Optional[bool] = None
    rtt_ms: Optional[float] = None
    error: Optional[str] = None

    @property
    def status(self) -> str:
        if not self.local:
            return "skipped"
        if self.expected is None:
            return "observed"
        return "pass" if self.reached == self.expected else "fail"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.src, "to": self.dst, "address": self.address, "network": self.network,
            "expected": None if self.expected is None else ("reach" if self.expected else "no-reach"),
            "reached": self.reached, "status": self.status,
        }
        if self.rtt_ms is not None:
            out["rttMs"] = self.rtt_ms
        if self.error:
            out["error"] = self.error
        if self.path:
            out["expectation"] = self.path
        return out


def rows_for(state: LabState, all_pairs: bool = False) -> list[Row]:
    rows = [
        Row(e["from"], e["to"], e["address"], e.get("network"), bool(e["reach"]), e.get("netns"), bool(e.get("local", True)), e.get("path"))
        for e in state.expect
    ]
    if all_pairs:
        seen = {(r.src, r.address) for r in rows}
        for a in state.pods:
            for b in state.pods:
                if a["name"] == b["name"]:
                    continue
                shared = [n for n in a["addresses"] if n in b["addresses"]]
                network = shared[0] if shared else next(iter(b["addresses"]), None)
                address = b["addresses"].get(network) if network else None
                if address and (a["name"], address) not in seen:
                    seen.add((a["name"], address))
                    rows.append(Row(a["name"], b["name"], address, network, None, a["netns"], bool(a.get("local", True))))
    return rows


def run(rows: list[Row], timeout: float = 1.0) -> list[Row]:
    """Ping every local pair; a pair that should reach and got no reply is tried once more
    (links that have just come up drop packets until the kernel has activated them, which
    it does in the background, within about a second)."""
    pending = [r for r in rows if r.local]
    for _attempt in range(2):
        probes = ping_all([Probe(r.netns, r.address) for r in pending], timeout=timeout)
        for row, probe in zip(pending, probes, strict=True):
            row.reached, row.rtt_ms, row.error = probe.reached, probe.rtt_ms, probe.error
        pending = [r for r in pending if not r.reached and r.expected is not False]
        if not pending:
            break
    return rows


def summary(rows: list[Row]) -> dict[str, int]:
    out = {"pass": 0, "fail": 0, "observed": 0, "skipped": 0}
    for row in rows:
        out[row.status] += 1
    return out

"""A recipe's lab seen through inspect and trace: pod names, drift against the recorded
state, and check explaining a failed expectation with the trace of that pair."""

from __future__ import annotations

import json
import subprocess

from kubenetctl.errors import ExitCode
from kubenetctl.inspect import gather
from kubenetctl.netlink import observe
from kubenetctl.netlink.observe import ALL_TYPES
from tests.helpers import kn_inprocess as kn
from tests.recipes import renamed


def test_lab_pods_by_name_drift_and_check_explains(names, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path / "state"))
    lab = names.ns_prefix + "tr"
    path = renamed("vxlan-routed", lab, tmp_path)
    assert kn("apply", str(path)).code == 0
    try:
        # pod names resolve through the lab's recorded state, without --lab
        traced = kn("-o", "json", "trace", "web", "db")
        assert traced.code == 0, traced
        doc = json.loads(traced.stdout)
        assert doc["lab"] == lab and doc["reachable"]
        assert (doc["src"]["netns"], doc["dst"]["netns"]) == (f"{lab}-web", f"{lab}-db")
        # trace reads what the walk needs, not what the drift report compares (inspect does)
        trace_reads = _reads(monkeypatch, lambda: gather.explain(lab, "web", "db"))
        assert {types for types, _ in trace_reads} == {gather.LEAN_TYPES} and not any(s for _, s in trace_reads)
        drift_reads = _reads(monkeypatch, lambda: gather.gather(lab))
        assert {types for types, _ in drift_reads} == {ALL_TYPES} and any(s for _, s in drift_reads)

        inspected = json.loads(kn("-o", "json", "inspect", lab).stdout)
        assert inspected["drift"]["clean"], inspected["drift"]
        roles = {ns["name"]: ns["role"] for ns in inspected["items"]}
        assert roles == {f"{lab}-node1": "node", f"{lab}-node2": "node", f"{lab}-web": "pod", f"{lab}-db": "pod",
                         f"{lab}-underlay": "other"}  # the recipe's two nodes; its underlay is no node
        assert inspected["summary"]["nodes"] == 2 and f"netns {lab}-underlay" in kn("inspect", lab).stdout

        # break the overlay in one place: node1 forgets where node2's VTEP is
        node1 = f"{lab}-node1"
        fdb = json.loads(subprocess.run(["bridge", "-j", "-n", node1, "fdb", "show", "dev", "flannel.1"],
                                        capture_output=True, text=True, check=True).stdout)
        entry = next(f for f in fdb if f.get("dst"))  # node2's VTEP
        subprocess.run(["bridge", "-n", node1, "fdb", "del", entry["mac"], "dev", "flannel.1", "dst", entry["dst"]],
                       check=True)

        drift = json.loads(kn("-o", "json", "inspect", lab).stdout)["drift"]
        assert not drift["clean"]
        assert [(r["type"], r["mac"], r["dst"]) for r in drift["missing"]] == [("fdb", entry["mac"], entry["dst"])]

        checked = kn("-o", "json", "check", lab)
        assert checked.code == ExitCode.CHECK_FAILED
        failed = [i for i in json.loads(checked.stdout)["items"] if i["status"] == "fail"]
        assert failed and all("trace" in i for i in failed)
        stops = {(i["trace"]["forward"]["stop"] or {}).get("reason") for i in failed if i["from"] == "web"}
        assert stops == {"no_fdb"}, failed
        human = kn("check", lab)
        assert "why web -> db" in human.stdout and "STOPPED (no_fdb)" in human.stdout

        # apply repairs exactly that, and check passes again
        repaired = json.loads(kn("-o", "json", "apply", str(path)).stdout)
        assert [(op["action"], op["resource"]["type"]) for op in repaired["items"]] == [("create", "fdb")]
        assert kn("check", lab).code == 0
    finally:
        assert kn("destroy", lab).code == 0


def _reads(monkeypatch, read):  # type: ignore[no-untyped-def]
    """(types, recorded sysctls) of each observe() call that `read` makes."""
    calls, real = [], observe.observe

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((kwargs["types"], [s.name for s in kwargs.get("sysctls", ())]))
        return real(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(observe, "observe", spy)
        read()
    return calls


def test_check_explains_from_its_state_dir_and_from_node_senders(names, tmp_path, monkeypatch):
    """--state-dir (no environment) reaches the traces too, and a node sender (from: node1)
    is traced from the node's namespace: every failed pair gets a trace, none an error."""
    monkeypatch.delenv("KUBENETCTL_STATE_DIR", raising=False)
    state = ["--state-dir", str(tmp_path / "state")]
    lab = names.ns_prefix + "ts"
    path = renamed("vxlan-routed", lab, tmp_path, lambda d: d["spec"]["expect"].append({"from": "node1", "to": "db"}))
    assert kn("apply", str(path), *state).code == 0
    try:
        node1 = f"{lab}-node1"
        fdb = json.loads(subprocess.run(["bridge", "-j", "-n", node1, "fdb", "show", "dev", "flannel.1"],
                                        capture_output=True, text=True, check=True).stdout)
        entry = next(f for f in fdb if f.get("dst"))
        subprocess.run(["bridge", "-n", node1, "fdb", "del", entry["mac"], "dev", "flannel.1", "dst", entry["dst"]],
                       check=True)
        checked = kn("-o", "json", "check", lab, *state)
        assert checked.code == ExitCode.CHECK_FAILED
        failed = [i for i in json.loads(checked.stdout)["items"] if i["status"] == "fail"]
        assert {i["from"] for i in failed} >= {"web", "node1"}
        assert all("forward" in i["trace"] for i in failed), [i["trace"] for i in failed]
        stops = {i["from"]: i["trace"]["forward"]["stop"]["reason"] for i in failed if i["from"] in ("web", "node1")}
        assert stops == {"web": "no_fdb", "node1": "no_fdb"}
    finally:
        assert kn("destroy", lab, *state).code == 0

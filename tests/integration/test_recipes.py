"""Recipes end to end on real kernel objects: apply, check with real pings, reconcile,
destroy; crashes, edits, foreign objects, and one recipe built as two hosts (--node).

Every lab is named from the test's `names` prefix, so all its namespaces (<lab>-<name>)
are checked by the leak check; state lives in the test's tmp directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kubenetctl.errors import ExitCode
from tests.conftest import HAS_8021Q, ip_json, netns_names
from tests.helpers import kn_inprocess as kn
from tests.helpers import kn_argv, ping, wait_for
from tests.recipes import BUNDLED, renamed


class Lab:
    """One test's lab: recipe copies named <names prefix><suffix>, state in tmp."""

    def __init__(self, names, tmp_path: Path) -> None:
        self.names = names
        self.tmp = tmp_path
        self.state_dir = tmp_path / "state"

    def recipe(self, bundled: str, suffix: str, edit=None) -> tuple[str, Path]:
        lab = self.names.ns_prefix + suffix
        return lab, renamed(bundled, lab, self.tmp, edit)

    def namespaces(self, lab: str) -> list[str]:
        return sorted(n for n in netns_names() if n.startswith(lab + "-"))

    def recorded(self, lab: str) -> bool:
        return (self.state_dir / "labs" / lab).exists()


@pytest.fixture
def lab(names, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path / "state"))
    return Lab(names, tmp_path)


def ok(result):
    assert result.code == 0, result
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else result


def applied(path: Path, *extra: str) -> dict:
    return ok(kn("-o", "json", "apply", str(path), *extra))


def link_alias(netns: str | None, name: str) -> str | None:
    found = ip_json("-d", "link", "show", "dev", name, netns=netns)
    return found[0].get("ifalias") if found else None


def assert_marked(doc: dict, lab: str) -> int:
    """Every link apply created exists in the kernel and carries the lab's marker (read with iproute2)."""
    count = 0
    for op in doc["items"]:
        if op["action"] != "create" or op["resource"]["type"] != "link":
            continue
        for end in (op["resource"], op.get("peer")):
            if end is not None:
                assert link_alias(end.get("netns"), end["name"]) == f"kubenetctl:lab/{lab}", end
                count += 1
    return count


def assert_gone(lab_fixture: Lab, lab: str) -> None:
    assert lab_fixture.namespaces(lab) == []
    assert not lab_fixture.recorded(lab)
    assert json.loads(kn("-o", "json", "lab", "list").stdout)["items"] == []


# -- every bundled recipe ------------------------------------------------------------------
E2E = [r for r in BUNDLED if r != "vlan-split"]  # vlan-split needs 802.1Q: its own test, in the full-kernel lane


@pytest.mark.parametrize("recipe", E2E)
def test_bundled_recipe_apply_check_reapply_destroy(lab, recipe):
    name, path = lab.recipe(recipe, recipe.split("-")[-1][:5])
    doc = applied(path)
    created = doc["summary"]["create"]
    assert created > 0 and doc["summary"]["delete"] == 0
    assert assert_marked(doc, name) > 0
    expected_ns = sorted(op["resource"]["name"] for op in doc["items"] if op["resource"]["type"] == "netns")
    assert lab.namespaces(name) == expected_ns

    checked = ok(kn("-o", "json", "check", name))
    assert checked["summary"]["fail"] == 0 and checked["summary"]["pass"] == len(checked["items"]) > 0
    assert all(item["reached"] == (item["expected"] == "reach") for item in checked["items"])

    again = applied(path)
    assert again["items"] == [] and again["summary"] == {"create": 0, "update": 0, "replace": 0, "delete": 0}
    assert ok(kn("-o", "json", "plan", str(path)))["items"] == []

    destroyed = ok(kn("-o", "json", "destroy", name))
    assert {op["resource"]["type"] for op in destroyed["items"]} == {"netns"}  # whole namespaces, one batch each
    assert_gone(lab, name)
    assert kn("destroy", name).code == ExitCode.NOT_FOUND  # a typo is not silently fine...
    assert ok(kn("-o", "json", "destroy", name, "--missing-ok"))["items"] == []  # ...unless a teardown script says so


def test_routed_overlay_is_what_flannel_programs(lab):
    name, path = lab.recipe("vxlan-routed", "fl")
    applied(path)
    node1 = f"{name}-node1"
    vx = ip_json("-d", "link", "show", "dev", "flannel.1", netns=node1)[0]
    info = vx["linkinfo"]["info_data"]
    assert (info["id"], info["port"], vx["mtu"], info.get("learning", False)) == (1, 8472, 1450, False)
    routes = ip_json("route", "show", "10.244.2.0/24", netns=node1)
    assert routes[0]["gateway"] == "10.244.2.0" and routes[0]["dev"] == "flannel.1" and "onlink" in routes[0]["flags"]
    # a 1422-byte payload fills the 1450 MTU exactly; one byte more does not fit without fragments
    assert ping(f"{name}-web", "10.244.2.2", size=1422, dont_fragment=True)
    assert not ping(f"{name}-web", "10.244.2.2", size=1423, dont_fragment=True, timeout=1)
    ok(kn("destroy", name))


def test_masquerade_lives_in_the_node_and_check_fails_without_it(lab):
    name, path = lab.recipe("bridge-nat", "nat")
    host_tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    applied(path)
    node = f"{name}-node1"
    tables = subprocess.run(["ip", "netns", "exec", node, "nft", "list", "tables"], capture_output=True, text=True).stdout
    assert "table ip kubenetctl-masq-10.88.0.0_24" in tables
    assert subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout == host_tables

    subprocess.run(["ip", "netns", "exec", node, "nft", "delete", "table", "ip", "kubenetctl-masq-10.88.0.0_24"], check=True)
    failed = kn("-o", "json", "check", name)
    assert failed.code == ExitCode.CHECK_FAILED
    bad = [(i["from"], i["to"]) for i in json.loads(failed.stdout)["items"] if i["status"] == "fail"]
    assert bad == [("a", "192.168.77.1"), ("b", "192.168.77.1")]  # outside needs the masquerade; the bridge does not
    assert "2 of 5 expectations failed" in failed.stderr

    repaired = applied(path)
    assert [(op["action"], op["resource"]["type"]) for op in repaired["items"]] == [("create", "masquerade")]
    ok(kn("check", name))
    ok(kn("destroy", name))
    assert subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout == host_tables


@pytest.mark.fullkernel
def test_vlan_split_pods_stay_apart(lab):
    name, path = lab.recipe("vlan-split", "vlan")
    doc = applied(path)
    assert assert_marked(doc, name) > 0
    vlan = ip_json("-d", "link", "show", "dev", "eth0.10", netns=f"{name}-node1")[0]
    assert vlan["linkinfo"]["info_data"]["id"] == 10
    checked = ok(kn("-o", "json", "check", name))
    blocked = {(i["from"], i["to"]) for i in checked["items"] if i["expected"] == "no-reach"}
    assert ("blue1", "red2") in blocked and checked["summary"]["fail"] == 0
    ok(kn("destroy", name))
    assert_gone(lab, name)


@pytest.mark.skipif(HAS_8021Q, reason="this kernel has 802.1Q: the full recipe runs instead")
def test_vlan_recipe_on_a_kernel_without_8021q_stops_cleanly(lab):
    name, path = lab.recipe("vlan-split", "novlan")
    result = kn("apply", str(path))
    assert result.code == ExitCode.UNSUPPORTED, result
    assert "this kernel has no 802.1Q support (CONFIG_VLAN_8021Q)" in result.stderr
    assert "undid the" in result.stderr
    assert_gone(lab, name)


# -- reconcile -----------------------------------------------------------------------------
def test_drift_is_repaired_exactly(lab):
    name, path = lab.recipe("vxlan-routed", "drift")
    doc = applied(path)
    node1, node2 = f"{name}-node1", f"{name}-node2"
    web_veth = next(op["resource"]["name"] for op in doc["items"]
                    if op["resource"].get("peer_netns") == f"{name}-web" or (op.get("peer") or {}).get("netns") == f"{name}-web")
    fdb = next(op["resource"] for op in doc["items"] if op["resource"]["type"] == "fdb" and op["resource"].get("netns") == node1)

    subprocess.run(["ip", "-n", node1, "link", "del", web_veth], check=True)
    subprocess.run(["bridge", "-n", node1, "fdb", "del", fdb["mac"], "dev", "flannel.1", "dst", fdb["dst"]], check=True)
    subprocess.run(["ip", "-n", node2, "link", "set", "flannel.1", "mtu", "1400"], check=True)
    assert kn("check", name).code == ExitCode.CHECK_FAILED

    want = {
        ("create", "link", f"{name}-web"),  # the veth pair (with its peer in the pod)
        ("create", "address", f"{name}-web"),
        ("create", "route", f"{name}-web"),
        ("create", "fdb", node1),
        ("update", "link", node2),  # flannel.1 mtu 1400 -> 1450
        ("update", "link", node1),  # cni0: its last port gone, the kernel put its MTU back to 1500
    }
    planned = ok(kn("-o", "json", "plan", str(path)))["items"]
    repaired = applied(path)["items"]
    def where(op):  # a veth pair is one op: name it by its pod end
        ends = [op["resource"].get("netns"), (op.get("peer") or {}).get("netns")]
        return f"{name}-web" if f"{name}-web" in ends else ends[0]

    for ops in (planned, repaired):
        assert {(op["action"], op["resource"]["type"], where(op)) for op in ops} == want and len(ops) == len(want), ops
    updates = {op["resource"]["name"]: op["changes"] for op in repaired if op["action"] == "update"}
    assert updates == {"flannel.1": [{"field": "mtu", "from": 1400, "to": 1450}],
                       "cni0": [{"field": "mtu", "from": 1500, "to": 1450}]}
    ok(kn("check", name))
    assert applied(path)["items"] == []
    ok(kn("destroy", name))


def test_an_edited_recipe_changes_only_what_changed(lab):
    def first(data):
        data["spec"]["expect"] = [{"from": "a1", "to": "b1"}]

    name, path = lab.recipe("vxlan-flood", "edit", first)
    applied(path)
    before = {p: ip_json("-4", "addr", "show", "dev", "eth0", netns=f"{name}-{p}")[0]["addr_info"][0]["local"]
              for p in ("a1", "a2", "b1")}

    def second(data):  # a2 goes, b2 comes, nothing else changes
        first(data)
        data["spec"]["pods"] = [p for p in data["spec"]["pods"] if p["name"] != "a2"]
        data["spec"]["pods"].append({"name": "b2", "node": "node2", "networks": ["l2"]})
        data["spec"]["expect"].append({"from": "b2", "to": "a1"})

    _, path = lab.recipe("vxlan-flood", "edit", second)
    ops = applied(path)["items"]
    got = sorted((op["action"], op["resource"]["type"], op["resource"].get("netns") or op["resource"].get("name")) for op in ops)
    assert got == sorted([
        ("delete", "netns", f"{name}-a2"),  # one deletion: the namespace takes its veth and address along
        ("create", "netns", f"{name}-b2"),
        ("create", "link", f"{name}-node2"),
        ("create", "address", f"{name}-b2"),
    ])
    for p in ("a1", "b1"):
        assert ip_json("-4", "addr", "show", "dev", "eth0", netns=f"{name}-{p}")[0]["addr_info"][0]["local"] == before[p]
    assert lab.namespaces(name) == sorted(f"{name}-{n}" for n in ("a1", "b1", "b2", "node1", "node2", "underlay"))
    ok(kn("check", name))
    ok(kn("destroy", name))
    assert_gone(lab, name)


def test_a_new_vni_replaces_the_device_and_what_lived_on_it(lab):
    name, path = lab.recipe("vxlan-flood", "vni")
    applied(path)

    def vni43(data):
        data["spec"]["networks"][0]["overlay"]["vni"] = 43

    _, path = lab.recipe("vxlan-flood", "vni", vni43)
    ops = applied(path)["items"]
    got = sorted((op["action"], op["resource"]["type"], op["resource"]["netns"]) for op in ops)
    assert got == [("create", "fdb", f"{name}-node1"), ("create", "fdb", f"{name}-node2"),
                   ("replace", "link", f"{name}-node1"), ("replace", "link", f"{name}-node2")]
    vx = ip_json("-d", "link", "show", "dev", "vxlan42", netns=f"{name}-node1")[0]
    assert vx["linkinfo"]["info_data"]["id"] == 43 and vx["master"] == "br-l2"  # a port again, with its FDB entry
    ok(kn("check", name))
    assert applied(path)["items"] == []
    ok(kn("destroy", name))


def test_progress_goes_to_stderr_and_json_stays_clean(lab):
    from tests.helpers import kn_process

    name, path = lab.recipe("bridge-nat", "prog")
    result = kn_process("-o", "json", "apply", str(path), "--progress",
                        env={"FORCE_COLOR": "1", "KUBENETCTL_STATE_DIR": str(lab.state_dir)})
    assert result.code == 0, result
    assert json.loads(result.stdout)["kind"] == "ApplyResult"  # nothing but the document on stdout
    assert f"apply {name}" in result.stderr  # the bar was drawn on stderr
    ok(kn("destroy", name))


# -- crashes, lost files, locks ------------------------------------------------------------
def _kn_popen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*kn_argv(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_during_apply_then_destroy_leaves_nothing(lab):
    def big(data):
        data["spec"]["pods"] = [{"name": "p", "node": "node1", "replicas": 200, "networks": ["podnet"]}]
        data["spec"]["expect"] = [{"from": "p-0", "to": "p-1"}]

    name, path = lab.recipe("bridge-nat", "kill", big)
    journal = lab.state_dir / "labs" / name / "journal.jsonl"
    proc = _kn_popen("apply", str(path))
    wait_for(lambda: proc.poll() is not None or (journal.exists() and journal.read_text().count("\n") >= 300),
             "300 journal lines", timeout=30)
    assert proc.poll() is None, "apply finished before it could be killed (make the recipe bigger)"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    made = lab.namespaces(name)
    assert 0 < len(made) < 203, "killed in the middle: some pods exist, not all"
    listed = json.loads(kn("-o", "json", "lab", "list").stdout)["items"]
    assert [(r["name"], r["status"]) for r in listed] == [(name, "interrupted")]
    result = ok(kn("-o", "json", "destroy", name))
    # every namespace goes; one killed half-way through being made may be a bare mountpoint
    # file, removed without a delete operation
    assert len(made) - 1 <= len(result["items"]) <= len(made)
    assert_gone(lab, name)


def test_a_bare_mountpoint_left_by_a_kill_does_not_block_apply_or_destroy(lab):
    """Killed between creating /run/netns/<name> and binding the namespace on it: the
    journal has the intent, the kernel has nothing, the file would block `netns add`."""
    from kubenetctl.state.journal import record
    from kubenetctl.state.store import Store
    from kubenetctl.plan.ops import CREATE, Op
    from kubenetctl.resources import Netns

    name, path = lab.recipe("bridge-nat", "bare")
    bare = f"{name}-a"
    store = Store()
    with store.lock(name, create=True), store.journal(name) as journal:
        journal.write(record("intent", Op(CREATE, Netns(bare))))
    open(f"/run/netns/{bare}", "w").close()
    try:
        applied(path)  # the leftover file is cleared, the namespace made
        assert ip_json("link", "show", "dev", "lo", netns=bare)[0]["ifalias"] == f"kubenetctl:lab/{name}"
        ok(kn("check", name))
        ok(kn("destroy", name))
        assert_gone(lab, name)
        open(f"/run/netns/{bare}", "w").close()  # and destroy clears one too
        with store.lock(name, create=True), store.journal(name) as journal:
            journal.write(record("intent", Op(CREATE, Netns(bare))))
        ok(kn("destroy", name))
        assert_gone(lab, name)
    finally:
        from kubenetctl.netlink import namespaces

        namespaces.remove_stale(bare)


def test_destroy_works_without_the_recipe_file(lab):
    name, path = lab.recipe("vxlan-flood", "nofile")
    applied(path)
    path.unlink()
    ok(kn("destroy", name))
    assert_gone(lab, name)


def test_a_second_kubenetctl_on_the_same_lab_is_busy(lab):
    from kubenetctl.state.store import Store

    name, path = lab.recipe("bridge-nat", "busy")
    with Store().lock(name, create=True):
        result = kn("apply", str(path))
    assert result.code == ExitCode.BUSY and f"lab {name} is busy" in result.stderr
    assert lab.namespaces(name) == []


# -- ownership -----------------------------------------------------------------------------
def test_a_foreign_namespace_with_a_colliding_name_blocks_apply_and_survives(lab):
    name, path = lab.recipe("bridge-nat", "clash")
    foreign = f"{name}-b"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        result = kn("apply", str(path))
        assert result.code == ExitCode.CONFLICT, result
        assert f"netns {foreign} already exists and kubenetctl may not take it over" in result.stderr
        assert lab.namespaces(name) == [foreign] and not lab.recorded(name)
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=True)


def test_destroy_leaves_a_foreign_object_that_took_a_labs_name(lab):
    name, path = lab.recipe("bridge-nat", "took")
    applied(path)
    taken = f"{name}-b"
    subprocess.run(["ip", "netns", "del", taken], check=True)
    subprocess.run(["ip", "netns", "add", taken], check=True)  # someone else's now: no marker
    try:
        result = ok(kn("-o", "json", "destroy", name))
        assert [r["name"] for r in result["leftInPlace"]] == [taken]
        assert lab.namespaces(name) == [taken]
        assert not lab.recorded(name)
    finally:
        subprocess.run(["ip", "netns", "del", taken], check=True)


def test_adopted_namespace_and_bridge_survive_destroy(lab, tmp_path):
    name = lab.names.ns_prefix + "adopt"
    shared = f"{name}-shared"
    recipe = tmp_path / "adopt.yaml"
    recipe.write_text(f"""apiVersion: kubenetctl/v1
kind: Lab
metadata: {{name: {name}}}
spec:
  namespaces:
    - {{name: shared, adopt: true}}
    - {{name: p1}}
  links:
    - {{kind: bridge, name: br-adopt, netns: shared, adopt: true}}
    - {{kind: veth, name: v-p1, netns: shared, master: br-adopt, peer: {{name: eth0, netns: p1}}}}
  addresses:
    - {{netns: shared, link: br-adopt, cidr: 10.77.0.1/24}}
    - {{netns: p1, link: eth0, cidr: 10.77.0.2/24}}
  expect: []
""")
    subprocess.run(["ip", "netns", "add", shared], check=True)
    try:
        subprocess.run(["ip", "-n", shared, "link", "add", "br-adopt", "type", "bridge"], check=True)
        subprocess.run(["ip", "-n", shared, "link", "set", "br-adopt", "up"], check=True)
        doc = applied(recipe)
        assert sorted(r["type"] for r in doc["adopted"]) == ["link", "netns"]
        assert ping(f"{name}-p1", "10.77.0.1")
        ok(kn("destroy", name))
        assert lab.namespaces(name) == [shared]
        left = {link["ifname"] for link in ip_json("link", "show", netns=shared)}
        assert left == {"lo", "br-adopt"}  # the lab's veth went, the adopted bridge stayed
        addrs = ip_json("addr", "show", "dev", "br-adopt", netns=shared)[0]["addr_info"]
        assert [a["local"] for a in addrs if a["family"] == "inet"] == []  # the lab's address on it went too
    finally:
        subprocess.run(["ip", "netns", "del", shared], check=True)


# -- one recipe, two hosts -------------------------------------------------------------------
def _on_host(host: str, state: Path, *args: str) -> subprocess.CompletedProcess:
    """kubenetctl run as if on another machine: its network namespace is `host` (nsenter
    --net only: named namespaces stay shared, as they are on one real host)."""
    env = {**os.environ, "KUBENETCTL_STATE_DIR": str(state)}
    return subprocess.run(["nsenter", f"--net=/run/netns/{host}", *kn_argv(), *args], capture_output=True, text=True,
                          env=env)


def test_node_mode_builds_one_network_from_two_hosts(lab, names):
    name, path = lab.recipe("vxlan-routed", "mh")
    hosts = {"node1": names.ns("h1"), "node2": names.ns("h2")}
    wire = names.ns("wire")
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)  # noqa: E731
    for ns in (*hosts.values(), wire):
        run("ip", "netns", "add", ns)
    run("ip", "-n", wire, "link", "add", "br0", "type", "bridge")
    run("ip", "-n", wire, "link", "set", "br0", "up")
    for k, host in enumerate(hosts.values(), start=2):
        run("ip", "-n", wire, "link", "add", f"p{k}", "type", "veth", "peer", "name", "eth0", "netns", host)
        run("ip", "-n", wire, "link", "set", f"p{k}", "master", "br0", "up")
        run("ip", "-n", host, "addr", "add", f"192.168.77.{k}/24", "dev", "eth0")
        run("ip", "-n", host, "link", "set", "eth0", "up")
        run("ip", "-n", host, "link", "set", "lo", "up")
    states = {node: lab.tmp / f"state-{node}" for node in hosts}

    for node, host in hosts.items():
        result = _on_host(host, states[node], "apply", str(path), "--node", node)
        assert result.returncode == 0, result.stderr
    h1 = hosts["node1"]
    assert link_alias(h1, "flannel.1") == f"kubenetctl:lab/{name}" and link_alias(h1, "cni0") == f"kubenetctl:lab/{name}"
    assert lab.namespaces(name) == sorted([f"{name}-web", f"{name}-db"])  # pods only: the nodes are the hosts
    assert subprocess.run(["ip", "netns", "exec", h1, "sysctl", "-n", "net.ipv4.ip_forward"],
                          capture_output=True, text=True).stdout.strip() == "1"

    for node, host in hosts.items():
        result = _on_host(host, states[node], "-o", "json", "check", name)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)["summary"]
        assert summary == ({"pass": 2, "fail": 0, "observed": 0, "skipped": 1} if node == "node1"
                           else {"pass": 1, "fail": 0, "observed": 0, "skipped": 2})

    for node, host in hosts.items():
        result = _on_host(host, states[node], "destroy", name)
        assert result.returncode == 0, result.stderr
        assert {link["ifname"] for link in ip_json("link", "show", netns=host)} == {"lo", "eth0"}
    assert subprocess.run(["ip", "netns", "exec", h1, "sysctl", "-n", "net.ipv4.ip_forward"],
                          capture_output=True, text=True).stdout.strip() == "0"  # put back as it was
    assert lab.namespaces(name) == []
    for ns in (*hosts.values(), wire):
        run("ip", "netns", "del", ns)


KILL_AFTER_3_OPS = """
import os, signal, sys
from kubenetctl.execute import Executor
done = []
original = Executor.apply
def apply(self, op):
    done.append(op)
    if len(done) > 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, op)
Executor.apply = apply
from kubenetctl.cli.main import run
sys.argv = ["kubenetctl", *sys.argv[1:]]
run()
"""


def test_a_first_apply_with_node_killed_is_reapplied_with_node(lab, names):
    """The state records --node before the first operation: the journal of a killed first
    apply --node N is not taken for an apply without --node."""
    name, path = lab.recipe("bridge-nat", "knode")
    host = names.ns("kh")
    subprocess.run(["ip", "netns", "add", host], check=True)
    try:
        subprocess.run(["ip", "-n", host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"], check=True)
        env = {**os.environ, "KUBENETCTL_STATE_DIR": str(lab.state_dir)}
        killed = subprocess.run(["nsenter", f"--net=/run/netns/{host}", sys.executable, "-c", KILL_AFTER_3_OPS,
                                 "apply", str(path), "--node", "node1"], capture_output=True, text=True, env=env)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        listed = json.loads(kn("-o", "json", "lab", "list").stdout)["items"]
        assert [(r["name"], r["status"], r["node"]) for r in listed] == [(name, "interrupted", "node1")]
        again = _on_host(host, lab.state_dir, "apply", str(path), "--node", "node1")
        assert again.returncode == 0, again.stderr
        assert _on_host(host, lab.state_dir, "destroy", name).returncode == 0
        assert lab.namespaces(name) == [] and not lab.recorded(name)
    finally:
        subprocess.run(["ip", "netns", "del", host], check=False)


def test_apply_and_destroy_decode_the_recorded_resources_once(lab, monkeypatch):
    from kubenetctl.state.journal import LabState

    name, path = lab.recipe("bridge-nat", "once")
    applied(path)
    calls = []
    original = LabState.created_resources
    monkeypatch.setattr(LabState, "created_resources", lambda self: calls.append(1) or original(self))
    applied(path)
    assert len(calls) == 1, "re-apply: clear_stale, observe and plan share one decoding"
    calls.clear()
    ok(kn("destroy", name))
    assert len(calls) == 1, "destroy: observe and plan share one decoding"
    assert_gone(lab, name)

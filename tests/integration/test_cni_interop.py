"""Interop with the reference plugins (Debian's containernetworking-plugins, CNI <= 1.0.0).

- `kubenetctl cni` and hand-made direct plugin calls (what libcni does) build the same
  kernel state from the same conflist;
- reference host-local and kubenetctl's IPAM share a data directory without ever
  handing out an address twice;
- `kubenetctl cni` drives the reference bridge, macvlan and host-local; the reference
  bridge delegates IPAM to kubenetctl-cni.
"""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cni_helpers import (
    REF_DIR,
    add_netns,
    addresses,
    call,
    cni_bin,
    has_reference,
    iptables_nat,
    kubenetctl_exe,
    links,
    netns_path,
    routes,
    store_ips,
)

pytestmark = pytest.mark.skipif(
    not has_reference("bridge", "host-local", "macvlan", "tuning"),
    reason="containernetworking-plugins is not installed (apt-get install containernetworking-plugins)",
)


@pytest.fixture
def spaces(names):
    made = []

    def make(*bases):
        out = [names.ns(b) for b in bases]
        add_netns(*out)
        made.extend(out)
        return out

    yield make
    for ns in reversed(made):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def reference_list(data_dir, name="refnet"):
    return {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": "cni0", "isDefaultGateway": True, "ipMasq": True, "mtu": 1450,
         "ipam": {"type": "host-local", "dataDir": str(data_dir), "ranges": [[{"subnet": "10.66.0.0/24"}]]}},
        {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}},
    ]}


def kernel_state(host, pod):
    """What a person would compare: the pod's interfaces, addresses, routes and tuned
    sysctl; the bridge, its addresses and ports; the NAT rules (chain names are hashes of
    network name and container id, so equal ids give equal rules)."""
    pod_links = {n: (l["linkinfo"]["info_kind"] if "linkinfo" in l else None, l["mtu"], "UP" in l["flags"])
                 for n, l in links(pod).items()}
    host_links = links(host)
    ports = sorted((l["linkinfo"]["info_kind"], l["mtu"]) for l in host_links.values() if l.get("master") == "cni0")
    sysctl = subprocess.run(["ip", "netns", "exec", pod, "sysctl", "-n", "net.ipv4.conf.eth0.arp_notify"],
                            capture_output=True, text=True).stdout.strip() if "eth0" in pod_links else None
    return {
        "pod_links": pod_links,
        "pod_addrs": addresses(pod, "eth0") if "eth0" in pod_links else [],
        "pod_routes": routes(pod),
        "pod_sysctl": sysctl,
        "bridge": ("cni0" in host_links, addresses(host, "cni0") if "cni0" in host_links else []),
        "ports": ports,
        "nat": iptables_nat(host),
    }


def test_kubenetctl_cni_and_direct_calls_build_the_same_state(spaces, tmp_path):
    host_a, pod_a, host_b, pod_b = spaces("ha", "pa", "hb", "pb")
    netd = tmp_path / "netd"
    netd.mkdir()
    (netd / "10-refnet.conflist").write_text(json.dumps(reference_list(tmp_path / "data-a")))
    cache = tmp_path / "cache"
    base = [kubenetctl_exe(), "-o", "json", "cni"]
    opts = ["--container-id", "ctr1", "--netconfpath", str(netd), "--cni-path", REF_DIR, "--cache-dir", str(cache)]
    # A: through the runtime driver
    out = subprocess.run(["ip", "netns", "exec", host_a, *base, "add", "refnet", pod_a, *opts], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result_a = json.loads(out.stdout)
    # B: by hand, the way libcni calls the chain
    nl = reference_list(tmp_path / "data-b")
    prev = None
    for plugin in nl["plugins"]:
        conf = {**plugin, "name": nl["name"], "cniVersion": nl["cniVersion"], **({"prevResult": prev} if prev else {})}
        r = call(f"{REF_DIR}/{plugin['type']}", "ADD", conf, host=host_b, netns=netns_path(pod_b), container_id="ctr1",
                 cni_path=REF_DIR)
        assert r.code == 0, r
        prev = r.json()
    state_a, state_b = kernel_state(host_a, pod_a), kernel_state(host_b, pod_b)
    assert state_a == state_b
    assert state_a["pod_addrs"] == ["10.66.0.2/24"] and state_a["pod_sysctl"] == "1" and state_a["ports"] == [("veth", 1450)]
    assert any("MASQUERADE" in r for r in state_a["nat"])
    # same result, up to the random names and MACs
    strip = lambda res: {**res, "interfaces": [{k: v for k, v in i.items() if k not in ("mac", "name")} for i in res["interfaces"]]}  # noqa: E731
    assert strip(result_a) == strip({**prev, "interfaces": [{**i, "sandbox": i.get("sandbox", "").replace(pod_b, pod_a)} if i.get("sandbox") else i for i in prev["interfaces"]]})
    assert (cache / "results" / "refnet-ctr1-eth0").exists()
    # CHECK passes through the reference plugins with the cached result
    out = subprocess.run(["ip", "netns", "exec", host_a, *base, "check", "refnet", pod_a, *opts], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # DEL: driver in reverse from the cache / by hand in reverse with prevResult
    out = subprocess.run(["ip", "netns", "exec", host_a, *base, "del", "refnet", pod_a, *opts], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for plugin in reversed(nl["plugins"]):
        conf = {**plugin, "name": nl["name"], "cniVersion": nl["cniVersion"], "prevResult": prev}
        assert call(f"{REF_DIR}/{plugin['type']}", "DEL", conf, host=host_b, netns=netns_path(pod_b), container_id="ctr1",
                    cni_path=REF_DIR).code == 0
    state_a, state_b = kernel_state(host_a, pod_a), kernel_state(host_b, pod_b)
    assert state_a == state_b and state_a["pod_links"] == {"lo": (None, 65536, False)} and state_a["nat"] == []
    assert not (cache / "results" / "refnet-ctr1-eth0").exists()
    assert store_ips(tmp_path / "data-a", "refnet") == [] == store_ips(tmp_path / "data-b", "refnet")


def ipam_only(data_dir, ipam_type, subnet="10.44.0.0/24"):
    return {"cniVersion": "1.0.0", "name": "shared", "type": "bridge",
            "ipam": {"type": ipam_type, "dataDir": str(data_dir), "ranges": [[{"subnet": subnet}]]}}


def test_shared_data_dir_never_double_allocates(tmp_path):
    ours, ref = cni_bin(tmp_path) + "/kubenetctl-cni", f"{REF_DIR}/host-local"
    data = tmp_path / "data"
    conf = {"ours": ipam_only(data, "kubenetctl-cni"), "ref": ipam_only(data, "host-local")}
    plugins = {"ours": ours, "ref": ref}

    def add(who, cid):
        r = call(plugins[who], "ADD", conf[who], netns="/proc/self/ns/net", container_id=cid, cni_path=REF_DIR)
        assert r.code == 0, r
        return r.json()["ips"][0]["address"]

    # taking turns: each continues round-robin after the other's last_reserved_ip
    got = [add("ref" if i % 2 else "ours", f"seq{i}") for i in range(6)]
    assert got == [f"10.44.0.{i}/24" for i in range(2, 8)]
    # both at once, 40 containers
    with ThreadPoolExecutor(max_workers=16) as pool:
        par = list(pool.map(lambda i: add("ref" if i % 2 else "ours", f"par{i}"), range(40)))
    everything = got + par
    assert len(set(everything)) == len(everything) == 46
    assert len(store_ips(data, "shared")) == 46
    # each releases what the other allocated
    for i in range(6):
        who = "ours" if i % 2 else "ref"
        assert call(plugins[who], "DEL", conf[who], netns="/proc/self/ns/net", container_id=f"seq{i}", cni_path=REF_DIR).code == 0
    for i in range(40):
        who = "ours" if i % 2 else "ref"
        assert call(plugins[who], "DEL", conf[who], container_id=f"par{i}", cni_path=REF_DIR).code == 0
    assert store_ips(data, "shared") == []


def test_exhaustion_is_shared_too(tmp_path):
    ours, ref = cni_bin(tmp_path) + "/kubenetctl-cni", f"{REF_DIR}/host-local"
    data = tmp_path / "data"
    small = "10.45.0.0/29"  # .2 .. .6 usable
    for i in range(5):
        plugin, t = (ref, "host-local") if i % 2 else (ours, "kubenetctl-cni")
        assert call(plugin, "ADD", ipam_only(data, t, small), netns="/x", container_id=f"c{i}", cni_path=REF_DIR).code == 0
    r = call(ours, "ADD", ipam_only(data, "kubenetctl-cni", small), netns="/x", container_id="c9", cni_path=REF_DIR)
    assert r.code == 1 and "no IP addresses available in range set: 10.45.0.1-10.45.0.6" in r.json()["msg"]
    r = call(ref, "ADD", ipam_only(data, "host-local", small), netns="/x", container_id="c9", cni_path=REF_DIR)
    assert r.code == 1 and "no IP addresses available" in r.stdout


@pytest.fixture
def cni_env(spaces, tmp_path):
    host, pod = spaces("h", "p")
    netd = tmp_path / "netd"
    netd.mkdir()

    def run(command, network, as_json=False, ok=True):
        cmd = ["ip", "netns", "exec", host, kubenetctl_exe(), *(["-o", "json"] if as_json else []), "cni", command, network, pod,
               "--netconfpath", str(netd), "--cni-path", f"{cni_bin(tmp_path)}:{REF_DIR}", "--cache-dir", str(tmp_path / "cache")]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if ok:
            assert out.returncode == 0, out.stderr
        return out

    return host, pod, netd, run


def test_kubenetctl_cni_drives_reference_macvlan_and_host_local(cni_env, tmp_path):
    host, pod, netd, run = cni_env
    subprocess.run(["ip", "-n", host, "link", "add", "uplink0", "type", "veth", "peer", "name", "uplink1"], check=True)
    subprocess.run(["ip", "-n", host, "link", "set", "uplink0", "up"], check=True)
    conf = {"cniVersion": "1.0.0", "name": "mvnet", "plugins": [
        {"type": "macvlan", "master": "uplink0", "mode": "bridge",
         "ipam": {"type": "host-local", "dataDir": str(tmp_path / "data"), "ranges": [[{"subnet": "10.55.0.0/24"}]]}}]}
    (netd / "20-mvnet.conflist").write_text(json.dumps(conf))
    result = json.loads(run("add", "mvnet", as_json=True).stdout)  # -o json: the raw result
    assert result["cniVersion"] == "1.0.0" and result["interfaces"][0]["sandbox"] == netns_path(pod)
    eth0 = links(pod)["eth0"]
    assert eth0["linkinfo"]["info_kind"] == "macvlan" and addresses(pod, "eth0") == ["10.55.0.2/24"]
    run("check", "mvnet")
    human = run("del", "mvnet")
    assert "attachment deleted" in human.stdout
    assert list(links(pod)) == ["lo"] and store_ips(tmp_path / "data", "mvnet") == []


def test_reference_bridge_delegates_ipam_to_kubenetctl(cni_env, tmp_path):
    host, pod, netd, run = cni_env
    conf = {"cniVersion": "1.0.0", "name": "deleg", "plugins": [
        {"type": "bridge", "bridge": "cni0", "isGateway": True,
         "ipam": {"type": "kubenetctl-cni", "dataDir": str(tmp_path / "data"), "ranges": [[{"subnet": "10.56.0.0/24"}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}}]}
    (netd / "30-deleg.conflist").write_text(json.dumps(conf))
    result = json.loads(run("add", "deleg", as_json=True).stdout)
    assert result["ips"][0]["address"] == "10.56.0.2/24" and result["ips"][0]["interface"] == 2
    assert addresses(pod, "eth0") == ["10.56.0.2/24"] and ("default", "10.56.0.1", "eth0") in routes(pod)
    assert (tmp_path / "data" / "deleg" / "10.56.0.2").read_bytes().endswith(b"\r\neth0")
    run("check", "deleg")
    run("del", "deleg")
    assert store_ips(tmp_path / "data", "deleg") == [] and list(links(pod)) == ["lo"]


def test_kubenetctl_cni_runs_our_plugin_with_rich_summary_and_gc(cni_env, tmp_path):
    host, pod, netd, run = cni_env
    conf = {"cniVersion": "1.1.0", "name": "ours", "plugins": [
        {"type": "kubenetctl-cni", "bridge": "cni0", "isDefaultGateway": True,
         "ipam": {"type": "kubenetctl-cni", "dataDir": str(tmp_path / "data"), "ranges": [[{"subnet": "10.57.0.0/24"}]]}}]}
    (netd / "40-ours.conflist").write_text(json.dumps(conf))
    human = run("add", "ours").stdout
    assert "10.57.0.2/24" in human and "10.57.0.1" in human and "kubenetctl-cni" in human and "ok" in human
    run("check", "ours")
    status = subprocess.run(["ip", "netns", "exec", host, kubenetctl_exe(), "cni", "status", "ours", "--netconfpath", str(netd),
                             "--cni-path", cni_bin(tmp_path)], capture_output=True, text=True)
    assert status.returncode == 0 and "network ready" in status.stdout
    # a stale allocation (a container that is long gone) is collected by GC; the live one stays
    (tmp_path / "data" / "ours" / "10.57.0.200").write_bytes(b"gone\r\neth0")
    gc = subprocess.run(["ip", "netns", "exec", host, kubenetctl_exe(), "-o", "json", "cni", "gc", "ours", "--netconfpath",
                         str(netd), "--cni-path", cni_bin(tmp_path), "--cache-dir", str(tmp_path / "cache")],
                        capture_output=True, text=True)
    assert gc.returncode == 0, gc.stderr
    assert store_ips(tmp_path / "data", "ours") == ["10.57.0.2"]
    run("del", "ours")
    assert store_ips(tmp_path / "data", "ours") == [] and list(links(pod)) == ["lo"]

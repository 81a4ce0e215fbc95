"""kubenetctl-cni as a bridge network plugin on real namespaces.

The plugin runs inside a disposable "host" namespace (see tests/cni_helpers.py), pods are
namespaces of their own; everything is checked with iproute2, nft, iptables and ping.
"""

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from kubenetctl.cni import spec
from tests.cni_helpers import (
    add_netns,
    addresses,
    bridge_conf,
    call,
    cni_bin,
    has_reference,
    iptables_nat,
    links,
    netns_path,
    nft_tables,
    routes,
    store_files,
    store_ips,
)
from tests.helpers import ping, wait_for


class Env:
    def __init__(self, names, tmp_path):
        self.names = names
        self.tmp = tmp_path
        self.host = names.ns("host")
        self.data = tmp_path / "data"
        self.bin = cni_bin(tmp_path)
        self.plugin = f"{self.bin}/kubenetctl-cni"
        self.bridge = "cni0"
        self.created = [self.host]
        add_netns(self.host)

    def pod(self, base):
        ns = self.names.ns(base)
        add_netns(ns)
        self.created.append(ns)
        return ns

    def conf(self, **fields):
        return bridge_conf("podnet", self.data, self.bridge, **fields)

    def call(self, command, conf, pod=None, cid="c1", ifname="eth0", **kw):
        return call(self.plugin, command, conf, host=self.host, netns=netns_path(pod) if pod else None,
                    container_id=cid, ifname=ifname, cni_path=self.bin, **kw)

    def host_veths(self):
        return sorted(n for n, link in links(self.host).items() if n.startswith("veth"))

    def cleanup(self):
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def env(names, tmp_path):
    e = Env(names, tmp_path)
    yield e
    e.cleanup()


def test_add_builds_a_working_pod_network_and_del_removes_it(env):
    conf = env.conf(isDefaultGateway=True, ipMasq=True, mtu=1400,
                    ipam={"ranges": [[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]})
    a, b = env.pod("a"), env.pod("b")
    ra = env.call("ADD", conf, a, cid="ca")
    rb = env.call("ADD", conf, b, cid="cb")
    assert ra.code == 0 and rb.code == 0, (ra, rb)
    res = ra.json()
    assert spec.result_problems(res, "1.1.0") == []
    bridge_itf, host_itf, pod_itf = res["interfaces"]
    assert bridge_itf["name"] == "cni0" and pod_itf == {"name": "eth0", "mac": pod_itf["mac"], "sandbox": netns_path(a), "mtu": 1400}
    assert re.fullmatch(r"veth[0-9a-f]{8}", host_itf["name"])
    assert res["ips"] == [{"address": "10.88.0.2/24", "gateway": "10.88.0.1", "interface": 2},
                          {"address": "fd00:88::2/64", "gateway": "fd00:88::1", "interface": 2}]
    assert res["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.88.0.1"}, {"dst": "::/0", "gw": "fd00:88::1"}]
    # the kernel agrees with the result
    eth0 = links(a)["eth0"]
    assert eth0["linkinfo"]["info_kind"] == "veth" and eth0["mtu"] == 1400 and eth0["address"] == pod_itf["mac"]
    assert addresses(a, "eth0") == ["10.88.0.2/24", "fd00:88::2/64"]
    assert ("default", "10.88.0.1", "eth0") in routes(a)
    assert ("default", "fd00:88::1", "eth0") in routes(a, "-6")
    host_links = links(env.host)
    assert host_links[host_itf["name"]]["master"] == "cni0" and host_links[host_itf["name"]]["address"] == host_itf["mac"]
    assert host_links["cni0"]["linkinfo"]["info_kind"] == "bridge" and host_links["cni0"]["address"] == bridge_itf["mac"]
    assert addresses(env.host, "cni0") == ["10.88.0.1/24", "fd00:88::1/64"]
    assert len(nft_tables(env.host)) == 2 and all(t.startswith("table inet kncni_") for t in nft_tables(env.host))
    rules = subprocess.run(["ip", "netns", "exec", env.host, "nft", "list", "ruleset"], capture_output=True, text=True).stdout
    assert "ip saddr 10.88.0.2 ip daddr != 224.0.0.0/4 masquerade" in rules
    # real packets: pod to pod across the bridge, pod to its gateway
    assert ping(a, "10.88.0.3") and ping(b, "10.88.0.2") and ping(a, "10.88.0.1")
    assert store_ips(env.data, "podnet") == ["10.88.0.2", "10.88.0.3", "fd00:88::2", "fd00:88::3"]
    assert (env.data / "podnet" / "10.88.0.2").read_bytes() == b"ca\r\neth0"
    # DEL removes the pod's interface, its host end, its rules and its addresses
    for pod, cid in ((a, "ca"), (b, "cb")):
        assert env.call("DEL", conf, pod, cid=cid).code == 0
        assert list(links(pod)) == ["lo"]
    assert env.host_veths() == [] and nft_tables(env.host) == [] and store_ips(env.data, "podnet") == []
    assert "cni0" in links(env.host)  # the bridge is shared: kept, like the reference plugin keeps it
    assert env.call("DEL", conf, a, cid="ca").code == 0  # DEL twice


@pytest.mark.parametrize("version", spec.SUPPORTED_VERSIONS)
def test_every_version_add_check_del(env, version):
    conf = env.conf(version=version, isDefaultGateway=True)
    pod = env.pod("p")
    r = env.call("ADD", conf, pod)
    assert r.code == 0, r
    res = r.json()
    assert res["cniVersion"] == version and spec.result_problems(res, version) == []
    if spec.vtuple(version) >= (0, 4, 0):
        assert env.call("CHECK", {**conf, "prevResult": res}, pod).code == 0
    else:
        chk = env.call("CHECK", {**conf, "prevResult": res}, pod)
        assert chk.code == 1 and chk.json()["code"] == spec.INCOMPATIBLE_VERSION
    for cmd in ("STATUS", "GC"):
        extra = {"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]} if cmd == "GC" else {}
        r2 = env.call(cmd, {**conf, **extra})
        assert r2.code == (0 if version == "1.1.0" else 1), r2
    assert store_ips(env.data, "podnet") == ["10.88.0.2"]  # GC kept the valid attachment
    assert env.call("DEL", {**conf, "prevResult": res}, pod).code == 0
    assert list(links(pod)) == ["lo"] and env.host_veths() == [] and store_ips(env.data, "podnet") == []


def test_duplicate_add_fails_and_leaves_the_first_intact(env):
    conf = env.conf()
    pod = env.pod("p")
    first = env.call("ADD", conf, pod)
    assert first.code == 0
    second = env.call("ADD", conf, pod)
    assert second.code == 1 and second.json()["code"] == spec.CONFLICT and "already exists" in second.json()["msg"]
    assert addresses(pod, "eth0") == ["10.88.0.2/24"] and len(env.host_veths()) == 1
    assert store_ips(env.data, "podnet") == ["10.88.0.2"]
    assert env.call("DEL", conf, pod).code == 0


def test_del_without_netns_or_after_the_netns_is_gone(env):
    conf = env.conf(ipMasq=True)
    pod = env.pod("p")
    assert env.call("ADD", conf, pod).code == 0
    subprocess.run(["ip", "netns", "del", pod], check=True)
    env.created.remove(pod)
    # the veth dies with the namespace, which the kernel frees asynchronously: a netlink socket
    # the plugin had in it lets go of it only after an RCU grace period following the close
    wait_for(lambda: env.host_veths() == [], "the veth to die with its namespace", timeout=5)
    r = env.call("DEL", conf, pod)  # CNI_NETNS names a namespace that no longer exists
    assert r.code == 0, r
    assert store_ips(env.data, "podnet") == [] and nft_tables(env.host) == []
    pod2 = env.pod("q")
    assert env.call("ADD", conf, pod2, cid="c2").code == 0
    r = env.call("DEL", conf, None, cid="c2")  # no CNI_NETNS at all
    assert r.code == 0 and store_ips(env.data, "podnet") == [] and nft_tables(env.host) == []
    assert env.call("DEL", conf, pod2, cid="c2").code == 0  # removes the interface that is still there
    assert list(links(pod2)) == ["lo"]


def test_del_with_a_broken_store_still_removes_the_interface_and_nat(env):
    conf = env.conf(ipMasq=True)
    pod = env.pod("p")
    assert env.call("ADD", conf, pod).code == 0 and nft_tables(env.host) != []
    (env.data / "podnet" / "10.88.0.9").write_bytes(b"")  # another pod's file, now unreadable
    r = env.call("DEL", conf, pod)
    assert r.code == 1 and r.json()["code"] == spec.IO_FAILURE and "10.88.0.9" in r.json()["msg"], r
    assert list(links(pod)) == ["lo"] and env.host_veths() == [] and nft_tables(env.host) == []


@pytest.mark.parametrize("change,needle", [
    (lambda r: r["ips"][0].update(address="10.88.0.9/24"), "lacks address 10.88.0.9/24"),
    (lambda r: r["interfaces"][2].update(mac="02:00:00:00:00:01"), "prevResult says 02:00:00:00:00:01"),
    (lambda r: r["interfaces"][2].update(name="eth1"), "prevResult has no interface eth0"),
    (lambda r: r["routes"].append({"dst": "10.99.0.0/16", "gw": "10.88.0.1"}), "route 10.99.0.0/16 via 10.88.0.1 is missing"),
])
def test_check_with_a_wrong_prev_result(env, change, needle):
    conf = env.conf(isDefaultGateway=True)
    pod = env.pod("p")
    res = env.call("ADD", conf, pod).json()
    assert env.call("CHECK", {**conf, "prevResult": res}, pod).code == 0
    change(res)
    r = env.call("CHECK", {**conf, "prevResult": res}, pod)
    assert r.code == 1 and r.json()["code"] == spec.CHECK_MISMATCH and needle in r.json()["msg"], r
    assert env.call("DEL", conf, pod).code == 0


def test_check_notices_a_broken_attachment(env):
    conf = env.conf()
    pod = env.pod("p")
    res = env.call("ADD", conf, pod).json()
    subprocess.run(["ip", "-n", pod, "addr", "flush", "dev", "eth0"], check=True)
    r = env.call("CHECK", {**conf, "prevResult": res}, pod)
    assert r.code == 1 and "lacks address 10.88.0.2/24" in r.json()["msg"]
    assert env.call("DEL", conf, pod).code == 0


ROLLBACK_CASES = [
    # the route's gateway is not on the pod's subnet: the kernel refuses it after the veth exists
    ({"ipam": {"routes": [{"dst": "10.99.0.0/16", "gw": "10.77.0.1"}]}}, "gateway 10.77.0.1"),
    # masquerade set-up fails after everything else is in place
    ({"ipMasq": True, "ipMasqBackend": "iptables",
      "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}},
     "portMappings need the nftables backend"),
]


@pytest.mark.parametrize("fields,needle", ROLLBACK_CASES)
def test_failed_add_rolls_back_completely(env, fields, needle):
    conf = env.conf(**fields)
    pod = env.pod("p")
    r = env.call("ADD", conf, pod)
    assert r.code == 1 and needle in r.stdout, r
    assert spec.error_problems(r.json()) == []
    assert list(links(pod)) == ["lo"]
    assert env.host_veths() == []
    assert store_ips(env.data, "podnet") == []
    assert nft_tables(env.host) == [] and iptables_nat(env.host) == []


def test_iptables_backend_keeps_rules_scoped_and_removes_them(env):
    conf = env.conf(ipMasq=True, ipMasqBackend="iptables")
    a, b = env.pod("a"), env.pod("b")
    assert env.call("ADD", conf, a, cid="ca").code == 0
    assert env.call("ADD", conf, b, cid="cb").code == 0
    rules = iptables_nat(env.host)
    assert sum("-j MASQUERADE" in r for r in rules) == 2
    assert any('kubenetctl-cni net=podnet id=ca if=eth0' in r and r.startswith("-A POSTROUTING -s 10.88.0.2/32") for r in rules)
    assert env.call("DEL", conf, a, cid="ca").code == 0
    rules = iptables_nat(env.host)
    assert not any("id=ca " in r for r in rules) and sum("-j MASQUERADE" in r for r in rules) == 1
    assert env.call("DEL", conf, b, cid="cb").code == 0
    assert iptables_nat(env.host) == []


def test_port_mappings_forward_real_traffic(env):
    pm = [{"HostPort": 18080, "ContainerPort": 8080, "Protocol": "TCP"}]  # containerd's capitalised keys
    conf = env.conf(isGateway=True, runtimeConfig={"portMappings": pm})
    pod = env.pod("p")
    assert env.call("ADD", conf, pod).code == 0
    server = subprocess.Popen(
        ["ip", "netns", "exec", pod, "python3", "-c",
         "import socket; s=socket.create_server(('0.0.0.0', 8080)); c,_=s.accept(); c.sendall(b'hello from pod'); c.close()"])
    try:
        client = ("import socket,time\nfor i in range(50):\n"
                  "    try:\n        c=socket.create_connection(('10.88.0.1', 18080), timeout=2); break\n"
                  "    except OSError: time.sleep(0.05)\nprint(c.recv(100).decode())")
        out = subprocess.run(["ip", "netns", "exec", env.host, "python3", "-c", client], capture_output=True, text=True, timeout=20)
        assert out.stdout.strip() == "hello from pod", out
    finally:
        server.kill()
        server.wait()
    assert env.call("DEL", conf, pod).code == 0
    assert nft_tables(env.host) == []


def test_parallel_adds_get_unique_addresses_and_dels_empty_the_store(env):
    n = 32
    conf = env.conf(ipMasq=True)
    pods = [env.pod(f"p{i}") for i in range(n)]
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda i: env.call("ADD", conf, pods[i], cid=f"c{i}"), range(n)))
    assert all(r.code == 0 for r in results), [r for r in results if r.code]
    ips = [r.json()["ips"][0]["address"] for r in results]
    assert len(set(ips)) == n
    assert sorted(addresses(p, "eth0")[0] for p in pods) == sorted(ips)
    assert len(store_ips(env.data, "podnet")) == n and len(env.host_veths()) == n and len(nft_tables(env.host)) == n
    with ThreadPoolExecutor(max_workers=n) as pool:
        dels = list(pool.map(lambda i: env.call("DEL", conf, pods[i], cid=f"c{i}"), range(n)))
    assert all(r.code == 0 for r in dels), [r for r in dels if r.code]
    assert store_ips(env.data, "podnet") == [] and env.host_veths() == [] and nft_tables(env.host) == []
    assert sorted(store_files(env.data, "podnet")) == ["last_reserved_ip.0", "lock"]


@pytest.mark.parametrize("cid,ifname,name", [
    ("../../escape", "eth0", "podnet"),
    ("c1", "../../x", "podnet"),
    ("c1", "eth0", "../escape"),
    ("c1", "a" * 16, "podnet"),
])
def test_hostile_names_create_nothing(env, cid, ifname, name):
    conf = {**env.conf(), "name": name}
    pod = env.pod("p")
    r = env.call("ADD", conf, pod, cid=cid, ifname=ifname)
    assert r.code == 1 and r.json()["code"] in (spec.INVALID_ENV, spec.INVALID_CONFIG), r
    assert not env.data.exists() and not (env.tmp / "escape").exists()
    assert list(links(pod)) == ["lo"] and "cni0" not in links(env.host)


def test_bridge_with_reference_host_local_ipam(env):
    if not has_reference("host-local"):
        pytest.skip("containernetworking-plugins is not installed (apt-get install containernetworking-plugins)")
    conf = env.conf(version="1.0.0", isDefaultGateway=True, ipam={"type": "host-local"})  # host-local speaks up to 1.0.0
    pod = env.pod("p")
    r = call(env.plugin, "ADD", conf, host=env.host, netns=netns_path(pod), cni_path=f"{env.bin}:/usr/lib/cni")
    assert r.code == 0, r
    assert addresses(pod, "eth0") == ["10.88.0.2/24"] and store_ips(env.data, "podnet") == ["10.88.0.2"]
    assert (env.data / "podnet" / "10.88.0.2").read_bytes() == b"c1\r\neth0"  # written by host-local itself
    r = call(env.plugin, "DEL", conf, host=env.host, netns=netns_path(pod), cni_path=f"{env.bin}:/usr/lib/cni")
    assert r.code == 0 and store_ips(env.data, "podnet") == [] and list(links(pod)) == ["lo"]


def test_vlan_uplink_on_a_kernel_without_8021q_fails_cleanly(env):
    from tests.conftest import HAS_8021Q

    if HAS_8021Q:
        pytest.skip("this kernel has 802.1Q: tests/fullkernel/test_cni_vlan.py covers the working case")
    subprocess.run(["ip", "-n", env.host, "link", "add", "up0", "type", "veth", "peer", "name", "up1"], check=True)
    conf = env.conf(vlan=100, vlanUplink="up0")
    pod = env.pod("p")
    r = env.call("ADD", conf, pod)
    assert r.code == 1 and r.json()["code"] == spec.KERNEL_FAILURE, r
    assert "this kernel has no 802.1Q support (CONFIG_VLAN_8021Q)" in r.json()["msg"]
    assert list(links(pod)) == ["lo"] and env.host_veths() == [] and store_ips(env.data, "podnet") == []


def test_vlan_without_uplink_is_refused_as_unsupported(env):
    pod = env.pod("p")
    r = env.call("ADD", env.conf(vlan=100), pod)
    assert r.code == 1 and r.json()["code"] == spec.UNSUPPORTED_FIELD and "vlanUplink" in r.json()["details"]
    assert list(links(pod)) == ["lo"] and not env.data.exists()

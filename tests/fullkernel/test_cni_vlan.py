"""The bridge network's 802.1Q uplink (vlan + vlanUplink) on a kernel with 8021q
(the QEMU full-kernel lane): the sub-interface <uplink>.<vlan> is created as a port of
the bridge, pods on two such "nodes" reach each other only through the tagged link."""

import subprocess

from tests.cni_helpers import add_netns, bridge_conf, call, cni_bin, links, netns_path
from tests.helpers import ping


def test_pods_on_two_nodes_talk_over_a_tagged_uplink(names, tmp_path):
    n1, n2, p1, p2 = (names.ns(b) for b in ("n1", "n2", "p1", "p2"))
    add_netns(n1, n2, p1, p2)
    try:
        subprocess.run(["ip", "-n", n1, "link", "add", "up0", "type", "veth", "peer", "name", "up0", "netns", n2], check=True)
        for n in (n1, n2):
            subprocess.run(["ip", "-n", n, "link", "set", "up0", "up"], check=True)
        plugin = cni_bin(tmp_path) + "/kubenetctl-cni"
        for node, pod, start in ((n1, p1, "10.60.0.10"), (n2, p2, "10.60.0.20")):
            conf = bridge_conf("vnet", tmp_path / node, "cni0", subnet="10.60.0.0/24", vlan=100, vlanUplink="up0",
                               ipam={"ranges": [[{"subnet": "10.60.0.0/24", "rangeStart": start}]]})
            r = call(plugin, "ADD", conf, host=node, netns=netns_path(pod), cni_path=cni_bin(tmp_path))
            assert r.code == 0, r
            sub = links(node)["up0.100"]
            assert sub["linkinfo"]["info_kind"] == "vlan" and sub["linkinfo"]["info_data"]["id"] == 100
            assert sub["master"] == "cni0"
        assert ping(p1, "10.60.0.20") and ping(p2, "10.60.0.10")
    finally:
        for n in (p1, p2, n1, n2):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)

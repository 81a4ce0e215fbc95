"""The static walk on hand-built snapshots: the working paths, then every fault class."""

from __future__ import annotations

import pytest

from kubenetctl.errors import InvalidInput, NotFound
from kubenetctl.kernelfacts import PathMtu
from kubenetctl.trace.model import Point
from kubenetctl.trace.pair import packet, resolve, walk_pair
from tests.synthetic import MAC, Lab, flood_overlay, routed_overlay, vlan_pair

ROUTED_FORWARD = [
    ("pod1", "eth0", "out"), ("node1", "veth0", "in"), ("node1", "cni0", "in"), ("node1", "vxlan0", "out"),
    ("node1", "ul0", "out"), ("node2", "ul0", "in"), ("node2", "vxlan0", "in"), ("node2", "cni0", "out"),
    ("node2", "veth0", "out"), ("pod2", "eth0", "in"),
]


def run(lab: Lab, src: str = "pod1", dst: str = "pod2", *, proto: str = "icmp", port: int | None = None,
        size: int | None = None, pods: dict | None = None):
    return walk_pair(lab.topo(), src, dst, pods, proto=proto, port=port, size=size)


def points(path) -> list[tuple]:
    return [(h.netns, h.dev, h.point.direction) for h in path.hops]


def rules(path, kind: str) -> list[str]:
    return [r.text for h in path.hops for r in h.rules if r.kind == kind]


# -- working paths -------------------------------------------------------------------------
def test_routed_overlay_there_and_back():
    t = run(routed_overlay())
    assert t.ok
    assert points(t.forward) == ROUTED_FORWARD
    assert points(t.reply) == [(ns.replace("1", "X").replace("2", "1").replace("X", "2"), dev, d)
                               for ns, dev, d in ROUTED_FORWARD]
    assert t.forward.delivered == Point("pod2", "eth0", "in")
    # the exact rules that matched, like ip route get / ip neigh / bridge fdb at each hop
    assert rules(t.forward, "route") == [
        "default via 10.244.1.1 dev eth0 proto kubenetctl",
        "10.244.2.0/24 via 10.244.2.0 dev vxlan0 proto kubenetctl onlink",
        "192.168.77.0/24 dev ul0 proto kernel scope link src 192.168.77.1",
        "10.244.2.0/24 dev cni0 proto kernel scope link src 10.244.2.1",
    ]
    assert rules(t.forward, "vxlan-fdb") == [f"{MAC['vtep2']} dev vxlan0 dst 192.168.77.2 permanent"]
    assert rules(t.forward, "encap") == ["VXLAN vni 1: outer 192.168.77.1 -> 192.168.77.2 udp/8472 (134 bytes)"]
    assert rules(t.forward, "decap") == ["udp/8472 vni 1 is vxlan0: decapsulated"]
    assert rules(t.forward, "bridge-fdb")[-1] == f"{MAC['pod2']} dev veth0 master cni0 learned"
    enc = [h for h in t.forward.hops if h.encap]
    assert [(h.netns, h.dev) for h in enc] == [("node1", "ul0"), ("node2", "ul0")]
    assert enc[0].encap == {"src": "192.168.77.1", "dst": "192.168.77.2", "vni": 1, "port": 8472}


def test_flood_overlay_resolves_arp_across_the_tunnel_and_floods():
    t = run(flood_overlay())
    assert t.ok, t.forward.stop
    assert points(t.forward) == [
        ("pod1", "eth0", "out"), ("node1", "veth0", "in"), ("node1", "vxlan0", "out"), ("node1", "ul0", "out"),
        ("node2", "ul0", "in"), ("node2", "vxlan0", "in"), ("node2", "veth0", "out"), ("pod2", "eth0", "in"),
    ]
    neigh = rules(t.forward, "neighbour")[0]
    assert "not cached: ARP is answered by eth0 in pod2" in neigh and MAC["pod2"] in neigh
    bridge = rules(t.forward, "bridge-fdb")
    assert bridge[0].startswith(f"no FDB entry for {MAC['pod2']} on br0: flooded to vxlan0; vxlan0 leads to it")
    assert rules(t.forward, "vxlan-fdb") == [
        f"no entry for {MAC['pod2']}: default entry 00:00:00:00:00:00 dev vxlan0 dst 192.168.77.2 permanent"
    ]


def test_tcp_and_udp_follow_the_same_path_with_ports():
    for proto in ("tcp", "udp"):
        t = run(routed_overlay(), proto=proto, port=80)
        assert t.ok and points(t.forward) == ROUTED_FORWARD
        assert t.forward.packet.dport == 80 and t.reply.packet.sport == 80


def test_trace_to_own_address_is_local():
    t = run(routed_overlay(), "pod1", "10.244.1.2")
    assert t.ok and t.forward.hops == [] and t.forward.delivered == Point("pod1", "eth0", "in")


def test_vlan_same_id_passes_the_trunk():
    t = run(vlan_pair(10, 10), "podA", "podB")
    assert t.ok
    assert points(t.forward) == [("podA", "eth0", "out"), ("nodeA", "trunk", "out"), ("nodeB", "trunk", "in"),
                                 ("podB", "eth0", "in")]
    assert rules(t.forward, "vlan")[0] == "eth0 is VLAN 10 on trunk: the frame is tagged 10"


# -- fault classes ---------------------------------------------------------------------------
def test_no_route():
    lab = routed_overlay().drop(("route", "node1", 254, "10.244.2.0/24", None))
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns) == ("no_route", "node1")
    assert "no route to 10.244.2.2 in netns node1" in stop.message
    assert "kubenetctl route add" in stop.hint


def test_no_route_because_the_link_is_down_names_the_link():
    lab = routed_overlay().set_link("node1", "ul0", up=False)
    lab.drop(("route", "node1", 254, "192.168.77.0/24", None))  # the kernel removes the routes of a down link
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("link_down", "node1", "ul0")
    assert "administratively down" in stop.message and stop.hint == "kubenetctl link set ul0 --up -n node1"


def test_no_neighbour_for_the_remote_vtep_gateway():
    lab = routed_overlay().drop_neigh("node1", "vxlan0", "10.244.2.0")
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("no_neighbor", "node1", "vxlan0")
    assert "no flood (00:00:00:00:00:00) FDB entry" in stop.message
    assert stop.hint == f"add it: kubenetctl neigh add vxlan0 10.244.2.0 {MAC['vtep2']} -n node1"


def test_no_fdb_entry_for_the_remote_vtep():
    lab = routed_overlay().drop_fdb("node1", "vxlan0", MAC["vtep2"])
    t = run(lab)
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("no_fdb", "node1", "vxlan0")
    assert points(t.forward)[-1] == ("node1", "vxlan0", "out")  # seen leaving vxlan0, never on ul0
    assert stop.blocked == Point("node1", "ul0", "out")
    assert "(vxlan0 in node2, VTEP 192.168.77.2)" in stop.message
    assert stop.hint == f"add the entry: kubenetctl fdb add vxlan0 {MAC['vtep2']} --dst 192.168.77.2 -n node1"


def test_flood_overlay_without_flood_entry():
    lab = flood_overlay().drop_fdb("node1", "vxlan0", "00:00:00:00:00:00")
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("no_fdb", "node1", "vxlan0")
    assert stop.hint == "add the flood entry: kubenetctl vxlan peer add vxlan0 --remote 192.168.77.2 -n node1"


def test_bridge_port_down_with_a_warm_cache():
    lab = routed_overlay().set_link("node2", "veth0", up=False).set_link("pod2", "eth0", carrier=False)
    lab.facts.ports[("node2", "veth0")] = lab.facts.ports[("node2", "veth0")].__class__("node2", "veth0", "cni0", "disabled")
    t = run(lab)
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("link_down", "node2", "veth0")
    assert points(t.forward)[-1] == ("node2", "cni0", "out")  # a bridge transmits even without carrier
    assert stop.blocked == Point("node2", "veth0", "out")
    assert stop.hint == "kubenetctl link set veth0 --up -n node2"


def test_link_down_after_the_kernel_flushed_the_neighbour():
    lab = routed_overlay().set_link("node2", "veth0", up=False).set_link("pod2", "eth0", carrier=False)
    lab.set_link("node2", "cni0", carrier=False).drop_neigh("node2", "cni0", "10.244.2.2")
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("link_down", "node2", "veth0")
    assert "veth0 in netns node2 is administratively down" in stop.message
    assert stop.blocked == Point("node2", "cni0", "out")


def test_veth_without_carrier_names_the_peer():
    lab = routed_overlay().set_link("node1", "veth0", up=False).set_link("pod1", "eth0", carrier=False)
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("link_down", "pod1", "eth0")
    assert "its peer veth0 in netns node1 is down" in stop.message
    assert stop.hint == "kubenetctl link set veth0 --up -n node1"


def test_mtu_on_the_path_names_both_mtus():
    lab = routed_overlay().set_link("node2", "veth0", mtu=1000).set_link("node2", "cni0", mtu=1000)
    t = run(lab, size=1200)
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("mtu", "node2", "cni0")
    assert "(1200 bytes) is bigger than the MTU 1000 of cni0" in stop.message
    assert "the source eth0 in pod1 has MTU 1450" in stop.message
    assert "fragmentation needed (mtu 1000)" in stop.message
    assert stop.blocked == Point("node2", "cni0", "out")
    # a small packet passes, with a note about the path MTU
    small = run(lab)
    assert small.ok
    assert any("path MTU is 1000 (cni0 in node2), below the source's MTU 1450" in n for n in small.forward.notes)


def test_mtu_at_the_source_is_refused_by_the_socket():
    stop = run(routed_overlay(), size=1460).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("mtu", "pod1", "eth0")
    assert "EMSGSIZE" in stop.message and "the source" not in stop.message


def test_mtu_mismatch_between_veth_ends():
    lab = routed_overlay().set_link("pod1", "eth0", mtu=1500)
    t = run(lab, size=1480)
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("mtu", "node1", "veth0")
    assert "leaves eth0 in netns pod1 (MTU 1500) but its peer veth0 in netns node1 has MTU 1450" in stop.message


def test_mtu_on_a_bridge_port():
    lab = routed_overlay().set_link("node2", "veth0", mtu=1000)  # bridge MTU stays 1450 (set by hand)
    stop = run(lab, size=1200).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("mtu", "node2", "veth0")
    assert "through veth0, whose MTU is 1000" in stop.message


def test_learned_path_mtu():
    lab = routed_overlay()
    lab.facts.pmtu[("pod1", "10.244.2.2")] = PathMtu("10.244.2.2", 1000, "eth0", 300)
    stop = run(lab, size=1200).forward.stop
    assert (stop.reason, stop.netns) == ("mtu", "pod1")
    assert "path MTU 1000 that netns pod1 learned" in stop.message and "route flush cache" in stop.hint


def test_encapsulated_packet_over_underlay_mtu_is_fragmented_not_dropped():
    lab = routed_overlay().set_link("node1", "ul0", mtu=1400).set_link("node2", "ul0", mtu=1400)
    t = run(lab, size=1400)
    assert t.ok
    assert any("sent in IP fragments" in n for n in t.forward.notes)


def test_vlan_mismatch_when_arp_cannot_cross():
    stop = run(vlan_pair(10, 20), "podA", "podB").forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("vlan_mismatch", "nodeB", "trunk")
    assert "tagged VLAN 10" in stop.message and "VLAN 20 on trunk" in stop.message


def test_vlan_mismatch_with_a_cached_neighbour():
    t = run(vlan_pair(10, 20, warm=True), "podA", "podB")
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("vlan_mismatch", "nodeB", "trunk")
    assert points(t.forward)[-1] == ("nodeB", "trunk", "in")


def test_destination_not_in_any_pod():
    t = run(routed_overlay(), "pod1", "10.244.2.99")
    stop = t.forward.stop
    assert t.dst.known is False
    assert (stop.reason, stop.netns, stop.dev) == ("no_destination", "node2", "cni0")
    assert "10.244.2.99 is not in any pod or namespace" in stop.message


def test_destination_outside_every_route():
    stop = run(routed_overlay(), "pod1", "10.99.0.1").forward.stop
    assert (stop.reason, stop.netns) == ("no_destination", "node1")


def test_forwarding_disabled():
    lab = routed_overlay().sysctl("node2", "net.ipv4.ip_forward", "0")
    t = run(lab)
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("forwarding_disabled", "node2", "vxlan0")
    assert "net.ipv4.ip_forward=0" in stop.message
    assert stop.blocked == Point("node2", "cni0", "out")
    assert stop.hint == "kubenetctl sysctl set net.ipv4.ip_forward 1 -n node2"


def test_forwarding_disabled_on_one_interface():
    lab = routed_overlay().sysctl("node1", "net.ipv4.conf.cni0.forwarding", "0")
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("forwarding_disabled", "node1", "cni0")
    assert "net.ipv4.conf.cni0.forwarding=0" in stop.message
    assert stop.hint == "kubenetctl sysctl set net.ipv4.conf.cni0.forwarding 1 -n node1"  # ip_forward is on already


def _router(dev: str) -> Lab:
    """a -- r -- b, routed; r's interface towards a is `dev`."""
    lab = Lab().ns("r", forward=True).ns("a", "b")
    lab.veth("a", "eth0", "r", dev, macs=("0e:00:00:00:0a:01", "0e:00:00:00:0a:02"))
    lab.veth("b", "eth0", "r", "eb", macs=("0e:00:00:00:0b:01", "0e:00:00:00:0b:02"))
    lab.addr("a", "eth0", "10.1.0.2/24").addr("r", dev, "10.1.0.1/24")
    lab.addr("b", "eth0", "10.2.0.2/24").addr("r", "eb", "10.2.0.1/24")
    lab.route("a", "default", via="10.1.0.1", dev="eth0").route("b", "default", via="10.2.0.1", dev="eth0")
    return lab


def test_knob_hints_name_an_interface_with_dots_in_slash_form():
    lab = _router("eth0.100").sysctl("r", "net.ipv4.ip_forward", "1").sysctl("r", "net.ipv4.conf.eth0.100.forwarding", "0")
    stop = run(lab, "a", "b").forward.stop
    assert (stop.reason, stop.dev) == ("forwarding_disabled", "eth0.100")
    assert "net/ipv4/conf/eth0.100/forwarding=0" in stop.message
    assert stop.hint == "kubenetctl sysctl set net/ipv4/conf/eth0.100/forwarding 1 -n r"
    lab = _router("eth0.100").sysctl("r", "net.ipv4.conf.all.rp_filter", "1")
    lab.drop(("route", "r", 254, "10.1.0.0/24", None))
    stop = run(lab, "a", "b").forward.stop
    assert (stop.reason, stop.dev) == ("rp_filter", "eth0.100")
    assert stop.hint.endswith("kubenetctl sysctl set net/ipv4/conf/eth0.100/rp_filter 2 -n r")


def test_strict_rp_filter_without_a_way_back():
    lab = routed_overlay().sysctl("node2", "net.ipv4.conf.all.rp_filter", "1")
    lab.drop(("route", "node2", 254, "10.244.1.0/24", None))
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("rp_filter", "node2", "vxlan0")
    assert "there is no route back" in stop.message


def test_vtep_port_and_vni_mismatch():
    lab = routed_overlay().set_link("node2", "vxlan0", port=4789)
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns) == ("no_vtep", "node2")
    assert "nothing in netns node2 listens on UDP port 8472" in stop.message and "vxlan0 port 4789" in stop.message
    lab = routed_overlay().set_link("node2", "vxlan0", vni=2)
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("vni_mismatch", "node2", "vxlan0")


def test_stale_neighbour_with_the_wrong_mac():
    lab = routed_overlay().drop_neigh("node1", "vxlan0", "10.244.2.0")
    lab.neigh("node1", "vxlan0", "10.244.2.0", "0e:00:00:00:00:99", "permanent")
    lab.fdb("node1", "vxlan0", "0e:00:00:00:00:99", dst="192.168.77.2")
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("wrong_mac", "node2", "vxlan0")


def test_forwarding_loop_is_cut():
    lab = Lab().ns("a", "b", forward=True).ns("p")
    lab.veth("a", "ab", "b", "ba", macs=("0a:00:00:00:00:0a", "0a:00:00:00:00:0b"))
    lab.addr("a", "ab", "10.9.0.1/30").addr("b", "ba", "10.9.0.2/30")
    lab.route("a", "default", via="10.9.0.2", dev="ab").route("b", "default", via="10.9.0.1", dev="ba")
    lab.veth("a", "ap", "p", "eth0", macs=("0a:00:00:00:00:0c", "0a:00:00:00:00:0d"))
    lab.addr("a", "ap", "10.8.0.1/24").addr("p", "eth0", "10.8.0.2/24").route("p", "default", via="10.8.0.1", dev="eth0")
    stop = run(lab, "p", "10.7.0.1").forward.stop
    assert stop.reason == "loop"


def test_peer_in_a_namespace_that_was_not_read():
    lab = routed_overlay()
    lab.snap.resources[("link", "node1", "ul0")] = lab.snap.get(("link", "node1", "ul0")).__class__(
        "node1", "ul0", "veth", mtu=1500, mac=MAC["ul1"], peer="ul0", peer_netns="elsewhere")
    stop = run(lab).forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("unobserved", "node1", "ul0")


# -- endpoints -------------------------------------------------------------------------------
def test_resolve_pod_names_namespaces_and_addresses():
    topo = routed_overlay().topo()
    assert resolve(topo, "web", "SRC", {"web": "pod1"}).netns == "pod1"
    assert resolve(topo, "web", "SRC", {"web": "pod1"}).kind == "pod"
    assert resolve(topo, "pod2", "DST").ip == "10.244.2.2"
    assert resolve(topo, "node1", "DST").ip == "192.168.77.1"  # a node's underlay address
    assert resolve(topo, "10.244.2.1", "DST").netns == "node2"
    assert resolve(topo, "10.1.1.1", "DST").known is False
    with pytest.raises(NotFound, match="SRC: no observed namespace has the address 10.1.1.1"):
        resolve(topo, "10.1.1.1", "SRC")
    with pytest.raises(NotFound, match="'nope' is not a pod, a namespace or an IP address"):
        resolve(topo, "nope", "DST")


def test_resolve_ambiguous_address():
    lab = routed_overlay().addr("node1", "cni0", "10.244.2.2/32")
    assert resolve(lab.topo(), "10.244.2.2", "DST").netns == "pod2"  # the pod wins
    lab = routed_overlay().addr("node1", "cni0", "10.244.2.1/32")
    with pytest.raises(InvalidInput, match="held by several namespaces"):
        resolve(lab.topo(), "10.244.2.1", "DST")


@pytest.mark.parametrize("proto,port,needle", [
    ("icmp", 80, "ICMP has no ports"), ("tcp", None, "TCP needs a destination port"), ("sctp", 1, "not one of"),
])
def test_packet_validation(proto, port, needle):
    topo = routed_overlay().topo()
    a, b = resolve(topo, "pod1", "SRC"), resolve(topo, "pod2", "DST")
    with pytest.raises(InvalidInput, match=needle):
        packet(a, b, proto, port, None)


def test_flood_overlay_without_flood_entry_and_warm_caches():
    lab = flood_overlay().drop_fdb("node1", "vxlan0", "00:00:00:00:00:00")
    lab.neigh("pod1", "eth0", "10.250.0.2", MAC["pod2"]).fdb("node1", "vxlan0", MAC["pod2"], master="br0")
    t = run(lab)
    stop = t.forward.stop
    assert (stop.reason, stop.netns, stop.dev) == ("no_fdb", "node1", "vxlan0")
    assert points(t.forward)[-1] == ("node1", "vxlan0", "out")
    assert rules(t.forward, "bridge-fdb") == [f"{MAC['pod2']} dev vxlan0 master br0 learned"]
    assert stop.hint == "add the entry: kubenetctl vxlan peer add vxlan0 --remote 192.168.77.2 -n node1"

"""The fast path's request bodies are exactly what pyroute2 encodes for the same request
(pyroute2 is the reference; messages.py only packs them faster)."""

import pytest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from kubenetctl.netlink import messages
from kubenetctl.netlink.wire import HEADER, LinkView, link_identity

HDR = HEADER.size


def pyroute2_body(msg):
    msg.encode()
    return bytes(msg.data)[HDR:]


def ifinfo(index=0, up=None, attrs=()):
    msg = ifinfmsg()
    msg["index"] = index
    if up is not None:
        msg["flags"], msg["change"] = (IFF_UP if up else 0), IFF_UP
    msg["attrs"] = list(attrs)
    return msg


LINK_NEW = [
    (dict(name="cni0", kind="bridge", up=True),
     [("IFLA_IFNAME", "cni0"), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "bridge")]})]),
    (dict(name="veth3f9a0c12", kind="veth", mtu=1450, mac="02:11:22:33:44:55", master=7, up=True,
          peer={"name": "eth0", "ns_fd": 9, "mtu": 1450, "mac": "02:aa:bb:cc:dd:ee"}),
     [("IFLA_IFNAME", "veth3f9a0c12"), ("IFLA_MTU", 1450), ("IFLA_ADDRESS", "02:11:22:33:44:55"), ("IFLA_MASTER", 7),
      ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": [
          ("IFLA_IFNAME", "eth0"), ("IFLA_NET_NS_FD", 9), ("IFLA_MTU", 1450), ("IFLA_ADDRESS", "02:aa:bb:cc:dd:ee")]})]})]})]),
    (dict(name="a", kind="veth", peer={"name": "b"}),
     [("IFLA_IFNAME", "a"), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [
         ("VETH_INFO_PEER", {"attrs": [("IFLA_IFNAME", "b")]})]})]})]),
]


@pytest.mark.parametrize("kwargs,attrs", LINK_NEW, ids=["bridge", "veth-full", "veth-bare"])
def test_link_new(kwargs, attrs):
    name, kind = kwargs.pop("name"), kwargs.pop("kind")
    assert messages.link_new(name, kind, **kwargs) == pyroute2_body(ifinfo(up=kwargs.get("up"), attrs=attrs))


def test_link_set_and_lookup():
    assert messages.link_set(1, up=True, alias="kubenetctl:lab/x") == pyroute2_body(
        ifinfo(1, True, [("IFLA_IFALIAS", "kubenetctl:lab/x")]))
    assert messages.link_set(None, "eth0", alias="kubenetctl:lab/x", up=True, master=3, mtu=1400, mac="02:00:00:00:00:01") == \
        pyroute2_body(ifinfo(0, True, [("IFLA_IFNAME", "eth0"), ("IFLA_IFALIAS", "kubenetctl:lab/x"), ("IFLA_MASTER", 3),
                                       ("IFLA_MTU", 1400), ("IFLA_ADDRESS", "02:00:00:00:00:01")]))
    assert messages.link_set(5, up=False, master=0) == pyroute2_body(ifinfo(5, False, [("IFLA_MASTER", 0)]))
    assert messages.link_by_name("flannel.1") == pyroute2_body(ifinfo(attrs=[("IFLA_IFNAME", "flannel.1")]))


@pytest.mark.parametrize("cidr,proto", [("10.244.1.2/24", 151), ("fd00::5/64", None)])
def test_address(cidr, proto):
    msg = ifaddrmsg()
    msg["family"] = 10 if ":" in cidr else 2
    msg["prefixlen"] = int(cidr.split("/")[1])
    msg["index"] = 4
    ip = cidr.split("/")[0]
    msg["attrs"] = [("IFA_LOCAL", ip), ("IFA_ADDRESS", ip)] + ([("IFA_PROTO", proto)] if proto else [])
    assert messages.address(4, cidr, proto=proto) == pyroute2_body(msg)


ROUTES = [
    (dict(dst="0.0.0.0/0", via="10.244.1.1", oif=None, onlink=False, table=254, metric=None, src=None, proto=151),
     dict(family=2, dst_len=0, table=254, proto=151, scope=0, type=1), [("RTA_TABLE", 254), ("RTA_GATEWAY", "10.244.1.1")]),
    (dict(dst="10.244.2.0/24", via="10.244.2.0", oif=5, onlink=True, table=254, metric=100, src="10.244.1.0", proto=151),
     dict(family=2, dst_len=24, table=254, proto=151, scope=0, type=1, flags=4),
     [("RTA_TABLE", 254), ("RTA_DST", "10.244.2.0"), ("RTA_GATEWAY", "10.244.2.0"), ("RTA_OIF", 5),
      ("RTA_PRIORITY", 100), ("RTA_PREFSRC", "10.244.1.0")]),
    (dict(dst="10.50.0.0/16", via=None, oif=3, onlink=False, table=1000, metric=None, src=None, proto=None, delete=True),
     dict(family=2, dst_len=16, table=252, proto=0, scope=255, type=0), [("RTA_TABLE", 1000), ("RTA_DST", "10.50.0.0"), ("RTA_OIF", 3)]),
    (dict(dst="10.60.0.0/16", via=None, oif=3, onlink=False, table=254, metric=None, src=None, proto=151),
     dict(family=2, dst_len=16, table=254, proto=151, scope=253, type=1), [("RTA_TABLE", 254), ("RTA_DST", "10.60.0.0"), ("RTA_OIF", 3)]),
    (dict(dst="fd00:1::/64", via="fd00::1", oif=None, onlink=False, table=254, metric=None, src=None, proto=151),
     dict(family=10, dst_len=64, table=254, proto=151, scope=0, type=1), [("RTA_TABLE", 254), ("RTA_DST", "fd00:1::"), ("RTA_GATEWAY", "fd00::1")]),
]


@pytest.mark.parametrize("kwargs,fields,attrs", ROUTES, ids=["default", "flannel", "delete", "device", "ipv6"])
def test_route(kwargs, fields, attrs):
    msg = rtmsg()
    for key, value in fields.items():
        msg[key] = value
    msg["attrs"] = attrs
    assert messages.route(**kwargs, onlink_flag=4) == pyroute2_body(msg)


def test_link_identity_reads_index_name_and_peer():
    msg = ifinfmsg()
    msg["index"] = 441
    msg["attrs"] = [("IFLA_IFNAME", "veth0"), ("IFLA_MTU", 1450), ("IFLA_LINK", 2)]
    msg.encode()
    assert link_identity(bytes(msg.data)) == (441, "veth0", 2)


@pytest.mark.parametrize("attrs", [
    [("IFLA_IFNAME", "veth3f9a0c12"), ("IFLA_MTU", 1450), ("IFLA_ADDRESS", "02:11:22:33:44:55"), ("IFLA_LINK", 2),
     ("IFLA_MASTER", 7), ("IFLA_OPERSTATE", "UP"), ("IFLA_IFALIAS", "kubenetctl:lab/x"), ("IFLA_CARRIER", 1),
     ("IFLA_LINK_NETNSID", 3), ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]})],
    [("IFLA_IFNAME", "lo"), ("IFLA_MTU", 65536), ("IFLA_ADDRESS", "00:00:00:00:00:00"), ("IFLA_OPERSTATE", "UNKNOWN"),
     ("IFLA_CARRIER", 1)],
    [("IFLA_IFNAME", "eth0"), ("IFLA_OPERSTATE", "LOWERLAYERDOWN"), ("IFLA_LINK_NETNSID", -1), ("IFLA_CARRIER", 0),
     ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]})],
], ids=["veth", "loopback", "peerless"])
def test_link_view_answers_like_pyroute2(attrs):
    msg = ifinfo(index=9, up=True, attrs=attrs)
    msg.encode()
    raw = bytes(msg.data)
    view, full = LinkView(raw), ifinfmsg(raw)
    full.decode()
    assert (view["index"], view["flags"]) == (full["index"], full["flags"])
    for name in LinkView.TYPES:
        assert view.get_attr(name) == full.get_attr(name), name
    info = full.get_attr("IFLA_LINKINFO")
    assert view.kind == (info.get_attr("IFLA_INFO_KIND") if info is not None else None)

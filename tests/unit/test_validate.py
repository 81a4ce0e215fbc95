import pytest

from kubenetctl import validate
from kubenetctl.errors import ExitCode, InvalidInput


@pytest.mark.parametrize("name", ["eth0", "a" * 15, "flannel.1", "veth0ab12cd3"])
def test_ifname_ok(name):
    assert validate.ifname(name) == name


@pytest.mark.parametrize("name,needle", [("a" * 16, "16 bytes"), ("", "empty"), ("a/b", "'/'"), ("a b", "whitespace"), ("ü" * 8, "16 bytes")])
def test_ifname_rejected(name, needle):
    with pytest.raises(InvalidInput) as exc:
        validate.ifname(name, "--peer")
    assert needle in str(exc.value) and str(exc.value).startswith("--peer:")
    assert exc.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("check,bad", [
    (validate.mtu, 67), (validate.mtu, 65536), (validate.mtu, True),
    (validate.vlan_id, 0), (validate.vlan_id, 4095),
    (validate.vni, 0), (validate.vni, 16777216),
    (validate.port, 0), (validate.port, 65536),
])
def test_ranges(check, bad):
    with pytest.raises(InvalidInput, match="out of range"):
        check(bad)


def test_ranges_edges_ok():
    assert validate.vlan_id(1) == 1 and validate.vlan_id(4094) == 4094
    assert validate.vni(16777215) == 16777215 and validate.mtu(68) == 68 and validate.port(65535) == 65535


def test_mac():
    assert validate.mac("AA-BB-cc-dd-ee-01") == "aa:bb:cc:dd:ee:01"
    with pytest.raises(InvalidInput, match="not a MAC"):
        validate.mac("aa:bb:cc:dd:ee")
    with pytest.raises(InvalidInput, match="multicast"):
        validate.unicast_mac("01:00:5e:00:00:01")


def test_cidrs():
    assert validate.interface_cidr("10.0.0.2/24") == "10.0.0.2/24"
    with pytest.raises(InvalidInput, match="no prefix length") as exc:
        validate.interface_cidr("10.0.0.2")
    assert exc.value.hint == "write it as 10.0.0.2/24"
    with pytest.raises(InvalidInput):
        validate.interface_cidr("10.0.0.256/24")
    assert validate.route_dst("default") == "0.0.0.0/0"
    with pytest.raises(InvalidInput, match="is not a network"):
        validate.network_cidr("default")  # a route's alias, no network
    with pytest.raises(InvalidInput, match="host bits") as exc:
        validate.network_cidr("10.244.1.5/24")
    assert "10.244.1.0/24" in exc.value.hint


def test_netns_name():
    assert validate.netns_name("pod-1") == "pod-1"
    for bad in ("", "a/b", "..", "."):
        with pytest.raises(InvalidInput):
            validate.netns_name(bad)


@pytest.mark.parametrize("key", ["net.ipv4.ip_forward", "net/ipv4/conf/eth0.100/forwarding", "net.ipv6.conf.all.forwarding"])
def test_sysctl_keys_ok(key):
    assert validate.sysctl_key(key) == key


@pytest.mark.parametrize("key", [
    "net/../../../tmp/x", "net/ipv4/../../../etc/hostname", "net..ipv4.ip_forward", "kernel.hostname",
    "vm.swappiness", "net", "net.ipv4", "net/ipv4/conf/./x", "/net/ipv4/ip_forward",
])
def test_sysctl_keys_never_leave_proc_sys_net(key):
    with pytest.raises(InvalidInput, match="is not a per-namespace net"):
        validate.sysctl_key(key, "KEY")


def test_sysctl_path_refuses_escapes_even_unvalidated():
    from kubenetctl.netlink.nsfs import sysctl_path

    assert sysctl_path("net/ipv4/conf/eth0.100/forwarding") == "/proc/sys/net/ipv4/conf/eth0.100/forwarding"
    with pytest.raises(InvalidInput):
        sysctl_path("net/../../etc/passwd")

"""Bad input never reaches the kernel half-done: one line, a hint, the documented exit code,
no traceback, and nothing left behind (checked against the kernel with iproute2)."""

import subprocess

import pytest

from kubenetctl.errors import ExitCode
from tests.conftest import HAS_8021Q, PREFIX, ip_json, netns_names
from tests.helpers import CliResult, installed_entry_point, kn_process, one_error_line
from tests.topologies import run


def kernel_state(*namespaces):
    """This run's namespaces and host links (other processes may be busy on the machine),
    and every interface and address inside the given namespaces."""
    state = {
        "netns": sorted(n for n in netns_names() if n.startswith(PREFIX)),
        "host": sorted(link["ifname"] for link in ip_json("link", "show") if link["ifname"].startswith(PREFIX)),
    }
    for ns in namespaces:
        state[ns] = sorted((a["ifname"], tuple(x["local"] for x in a.get("addr_info", []))) for a in ip_json("addr", "show", netns=ns))
    return state


def assert_clean_failure(result, code, needle):
    assert result.code == code, result
    assert needle in one_error_line(result), result
    assert len(result.stderr.strip().splitlines()) <= 2 and result.stdout == "", result


@pytest.fixture
def pod(kn, names):
    ns = names.ns("p")
    run(kn, "ns", "add", ns)
    yield ns
    run(kn, "ns", "del", ns)


def test_overlong_name(names, pod):
    before = kernel_state(pod)
    r = kn_process("veth", "add", names.link("x") + "y" * 8, "--peer", "eth0", "--peer-netns", pod)
    assert_clean_failure(r, ExitCode.USAGE, "the kernel allows 15")
    assert kernel_state(pod) == before


@pytest.mark.parametrize("opt,value,needle", [
    ("--peer-addr", "10.0.0.300/24", "is not an address"),
    ("--peer-addr", "10.0.0.3", "has no prefix length"),
    ("--mac", "aa:bb:cc", "is not a MAC address"),
    ("--mtu", "65536", "out of range 68..65535"),
])
def test_invalid_values_create_nothing(names, pod, opt, value, needle):
    before = kernel_state(pod)
    r = kn_process("veth", "add", names.link("h"), "--peer", "eth0", "--peer-netns", pod, opt, value)
    assert_clean_failure(r, ExitCode.USAGE, needle)
    assert kernel_state(pod) == before


@pytest.mark.parametrize("args,needle", [
    (["vxlan", "add", "vx", "--vni", "0"], "VNI 0 is out of range"),
    (["vxlan", "add", "vx", "--vni", "1", "--port", "0"], "port 0 is out of range"),
    (["vlan", "add", "v", "--parent", "lo", "--id", "5000"], "VLAN id 5000 is out of range 1..4094"),
])
def test_out_of_range_ids(names, pod, args, needle):
    before = kernel_state(pod)
    assert_clean_failure(kn_process(*args, "-n", pod), ExitCode.USAGE, needle)
    assert kernel_state(pod) == before


def test_missing_namespace_is_never_created(names):
    ghost = names.ns("ghost")
    before = kernel_state()
    r = kn_process("veth", "add", names.link("h"), "--peer", "eth0", "--peer-netns", ghost)
    assert_clean_failure(r, ExitCode.NOT_FOUND, f"network namespace '{ghost}' does not exist")
    assert "kubenetctl ns add" in r.stderr
    r = kn_process("bridge", "add", "br0", "-n", ghost)
    assert_clean_failure(r, ExitCode.NOT_FOUND, "does not exist")
    assert kernel_state() == before and ghost not in netns_names()


def test_existing_object_of_another_kind(kn, names, pod):
    run(kn, "bridge", "add", "x0", "-n", pod, "--addr", "10.7.0.1/24")
    before = kernel_state(pod)
    r = kn_process("veth", "add", "x0", "-n", pod, "--peer", "y0")
    assert_clean_failure(r, ExitCode.CONFLICT, "a bridge named x0 already exists")
    assert kernel_state(pod) == before
    r = kn_process("veth", "del", "x0", "-n", pod)
    assert_clean_failure(r, ExitCode.CONFLICT, "it is a bridge, not a veth")
    assert ip_json("link", "show", "x0", netns=pod)


def test_not_permitted_by_the_kernel(names, pod):
    """Root without CAP_NET_ADMIN/CAP_SYS_ADMIN: the kernel says EPERM, we say so in one line."""
    exe = installed_entry_point()
    assert exe, "kubenetctl must be installed for this test"
    before = kernel_state(pod)
    for args in (["ns", "add", names.ns("np")], ["bridge", "add", names.link("b")], ["bridge", "add", "br9", "-n", pod]):
        proc = subprocess.run(
            ["setpriv", "--bounding-set", "-net_admin,-sys_admin", "--inh-caps", "-net_admin,-sys_admin", exe, *args],
            capture_output=True, text=True,
        )
        assert_clean_failure(CliResult(proc.returncode, proc.stdout, proc.stderr), ExitCode.PERMISSION, "not permitted")
    assert kernel_state(pod) == before


@pytest.mark.skipif(HAS_8021Q, reason="this kernel has 802.1Q: the 'no 802.1Q' error cannot happen here")
def test_kernel_without_8021q_says_so(kn, names, pod):
    run(kn, "veth", "add", "trunk", "-n", pod, "--peer", "trunk2", "--peer-netns", pod)
    before = kernel_state(pod)
    r = kn_process("vlan", "add", "v100", "--parent", "trunk", "--id", "100", "-n", pod, "--addr", "10.1.0.1/24")
    assert_clean_failure(r, ExitCode.UNSUPPORTED, "this kernel has no 802.1Q support (CONFIG_VLAN_8021Q)")
    assert kernel_state(pod) == before


def test_failure_midway_rolls_back_what_the_command_made(names, pod):
    """The veth is created, then attaching it to a missing bridge fails: the veth goes again."""
    before = kernel_state(pod)
    r = kn_process("veth", "add", names.link("h"), "--peer", "eth0", "--peer-netns", pod, "--master", "nosuchbr0")
    assert_clean_failure(r, ExitCode.NOT_FOUND, "link nosuchbr0 does not exist")
    assert kernel_state(pod) == before


def test_route_gateway_not_on_link(kn, names, pod):
    run(kn, "veth", "add", "a0", "-n", pod, "--peer", "b0", "--peer-netns", pod, "--addr", "10.3.0.1/24")
    r = kn_process("route", "add", "10.99.0.0/24", "--via", "10.5.0.1", "-n", pod)
    assert_clean_failure(r, ExitCode.USAGE, "gateway 10.5.0.1 is not on a network directly connected")
    assert "--onlink" in r.stderr
    assert not ip_json("route", "show", "10.99.0.0/24", netns=pod)


@pytest.mark.parametrize("args,code,needle", [
    (["sysctl", "get", "net.ipv4.conf"], ExitCode.USAGE, "sysctl net.ipv4.conf is a group of sysctls, not one"),
    (["sysctl", "set", "net.ipv4.ip_forward", "abc"], ExitCode.USAGE, "the kernel refuses the value 'abc'"),
    (["sysctl", "get", "net.ipv4.no_such_key"], ExitCode.NOT_FOUND, "does not exist on this kernel"),
])
def test_sysctl_mistakes_are_one_line_and_change_nothing(pod, args, code, needle):
    before = subprocess.run(["ip", "netns", "exec", pod, "cat", "/proc/sys/net/ipv4/ip_forward"],
                            capture_output=True, text=True, check=True).stdout
    assert_clean_failure(kn_process(*args, "-n", pod), code, needle)
    assert subprocess.run(["ip", "netns", "exec", pod, "cat", "/proc/sys/net/ipv4/ip_forward"],
                          capture_output=True, text=True, check=True).stdout == before


def test_ns_list_shows_a_half_made_namespace_entry(names, tmp_path, monkeypatch):
    (tmp_path / names.ns("half")).write_bytes(b"")  # a file nobody bind-mounted a namespace onto
    monkeypatch.setenv("KUBENETCTL_NETNS_DIR", str(tmp_path))
    r = kn_process("-o", "json", "ns", "list")
    assert r.code == 0, r
    assert [(i["name"], i["interfaces"]) for i in r.json()["items"]] == [(names.ns("half"), None)]


def test_a_taken_peer_name_is_named(kn, pod):
    run(kn, "veth", "add", "x0", "-n", pod, "--peer", "x1", "--peer-netns", pod)
    before = kernel_state(pod)
    r = kn_process("veth", "add", "y0", "-n", pod, "--peer", "x1", "--peer-netns", pod)
    assert_clean_failure(r, ExitCode.CONFLICT, f"x1 already exists in the netns {pod}")
    assert kernel_state(pod) == before


def test_route_del_and_neigh_del_delete_only_what_was_named(kn, names, pod):
    """route del X --via A must not delete the route via B; neigh del with another MAC must not
    delete the entry: exit 4, and the kernel keeps them."""
    run(kn, "veth", "add", "a0", "-n", pod, "--peer", "b0", "--peer-netns", pod, "--addr", "10.3.0.1/24")
    run(kn, "route", "add", "10.99.0.0/24", "--via", "10.3.0.2", "-n", pod)
    run(kn, "neigh", "add", "a0", "10.3.0.9", "02:00:00:00:00:09", "-n", pod)
    r = kn_process("route", "del", "10.99.0.0/24", "--via", "10.3.0.3", "-n", pod)
    assert_clean_failure(r, ExitCode.CONFLICT, "its via is 10.3.0.2, not 10.3.0.3")
    r = kn_process("route", "del", "10.99.0.0/24", "--dev", "b0", "-n", pod)
    assert_clean_failure(r, ExitCode.CONFLICT, "its dev is a0, not b0")
    assert ip_json("route", "show", "10.99.0.0/24", netns=pod)
    r = kn_process("neigh", "del", "a0", "10.3.0.9", "02:00:00:00:00:0a", "-n", pod)
    assert_clean_failure(r, ExitCode.CONFLICT, "its mac is 02:00:00:00:00:09, not 02:00:00:00:00:0a")
    assert ip_json("neigh", "show", "10.3.0.9", "dev", "a0", netns=pod)
    run(kn, "route", "del", "10.99.0.0/24", "--via", "10.3.0.2", "--dev", "a0", "-n", pod)
    run(kn, "neigh", "del", "a0", "10.3.0.9", "02:00:00:00:00:09", "-n", pod)
    assert not ip_json("route", "show", "10.99.0.0/24", netns=pod)
    assert not ip_json("neigh", "show", "10.3.0.9", "dev", "a0", netns=pod)

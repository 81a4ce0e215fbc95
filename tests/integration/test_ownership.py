"""kubenetctl deletes only what it created, unless told --force."""

import subprocess

from kubenetctl.errors import ExitCode
from tests.conftest import host_links, ip_json, netns_names
from tests.topologies import run


def test_foreign_link_with_the_same_name_survives_del(kn, names):
    foreign = names.link("f")
    subprocess.run(["ip", "link", "add", foreign, "type", "veth", "peer", "name", names.link("fp")], check=True)
    try:
        r = kn("veth", "del", foreign)
        assert r.code == ExitCode.CONFLICT and "kubenetctl did not create it" in r.stderr and "--force" in r.stderr
        assert ip_json("link", "show", foreign)
        r = kn("veth", "add", foreign, "--peer", names.link("fp"))
        assert r.code == ExitCode.CONFLICT and "not created by kubenetctl" in r.stderr
        assert "ifalias" not in ip_json("link", "show", foreign)[0]  # we did not mark it either
        r = kn("-o", "json", "veth", "del", foreign, "--force")
        assert r.code == 0 and r.json()["items"][0]["action"] == "deleted"
        assert foreign not in host_links()
    finally:
        subprocess.run(["ip", "link", "del", foreign], capture_output=True)


def test_links_we_create_carry_the_marker(kn, names):
    br = names.link("b")
    run(kn, "bridge", "add", br)
    try:
        assert ip_json("link", "show", br)[0]["ifalias"] == "kubenetctl:cli"
    finally:
        run(kn, "bridge", "del", br)


def test_foreign_namespace_is_not_ours(kn, names):
    ns = names.ns("foreign")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        r = kn("ns", "del", ns)
        assert r.code == ExitCode.CONFLICT and ns in netns_names()
        r = kn("ns", "add", ns)
        assert r.code == ExitCode.CONFLICT and "not created by kubenetctl" in r.stderr
        assert kn("ns", "del", ns, "--force").code == 0 and ns not in netns_names()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_foreign_route_is_not_deleted(kn, names):
    ns = names.ns("r")
    run(kn, "ns", "add", ns)
    try:
        run(kn, "veth", "add", "a0", "-n", ns, "--peer", "b0", "--peer-netns", ns, "--addr", "10.4.0.1/24")
        subprocess.run(["ip", "-n", ns, "route", "add", "10.40.0.0/16", "via", "10.4.0.2"], check=True)
        r = kn("route", "del", "10.40.0.0/16", "-n", ns)
        assert r.code == ExitCode.CONFLICT and ip_json("route", "show", "10.40.0.0/16", netns=ns)
        r = kn("route", "add", "10.40.0.0/16", "--via", "10.4.0.3", "-n", ns)
        assert r.code == ExitCode.CONFLICT and ip_json("route", "show", "10.40.0.0/16", netns=ns)[0]["gateway"] == "10.4.0.2"
        ours = kn("route", "add", "10.41.0.0/16", "--via", "10.4.0.2", "-n", ns)
        assert ours.code == 0 and ip_json("route", "show", "10.41.0.0/16", netns=ns)[0]["protocol"] == "151"
        assert kn("route", "del", "10.41.0.0/16", "-n", ns).code == 0
    finally:
        run(kn, "ns", "del", ns)

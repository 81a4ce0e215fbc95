"""The lean launcher with `kubenetctl cni serve` against the same launcher running the
plugin in process, on real namespaces.

Real tests of the plugin (tests/integration/test_cni_plugin.py) run again through the
lean launcher, once through a server of their own and once in process; the server must
have served every call (its "stopped after N calls"), so a silent fallback fails.
"""

import json
import re
import subprocess
import sys

import pytest

from kubenetctl.cni import spec
from tests.cni_helpers import (
    CniServer,
    addresses,
    has_reference,
    lean_launcher,
    links,
    netns_path,
    nft_tables,
    routes,
    running_server,
    store_files,
)
from tests.helpers import ping
from tests.integration import test_cni_plugin as base

PATHS = ["server", "in-process"]


class Sub:
    """The test's names with a second prefix, for two environments in one test."""

    def __init__(self, names, tag: str) -> None:
        self.names, self.tag = names, tag

    def ns(self, base: str) -> str:
        return self.names.ns(self.tag + base)


class LeanEnv(base.Env):
    """base.Env with the lean launcher as the plugin: through a server, or in process."""

    def __init__(self, names, tmp_path, server: CniServer | None, socket: str) -> None:
        tmp_path.mkdir(exist_ok=True)
        super().__init__(names, tmp_path)
        self.plugin = lean_launcher(tmp_path, socket)
        self.server = server
        self.extra = {} if server else {"KUBENETCTL_CNI_NO_SERVER": "1"}
        self.calls = 0

    def call(self, command, conf, pod=None, cid="c1", ifname="eth0", **kw):
        self.calls += 1
        return super().call(command, conf, pod, cid, ifname, extra_env={**self.extra, **kw.pop("extra_env", {})}, **kw)


@pytest.fixture(params=PATHS)
def env(request, names, tmp_path):
    if request.param == "in-process":
        e = LeanEnv(names, tmp_path, None, "/nonexistent/cni.sock")
        try:
            yield e
        finally:
            e.cleanup()
        return
    with running_server(tmp_path) as server:
        e = LeanEnv(names, tmp_path, server, server.socket)
        try:
            yield e
            assert server.served() == e.calls > 0  # every call went through the server
        finally:
            e.cleanup()


# -- the plugin's own tests, through both paths ----------------------------------------------------
def test_add_builds_a_working_pod_network_and_del_removes_it(env):
    base.test_add_builds_a_working_pod_network_and_del_removes_it(env)


@pytest.mark.parametrize("version", ["0.3.1", "1.1.0"])
def test_every_version_add_check_del(env, version):
    base.test_every_version_add_check_del(env, version)


def test_duplicate_add_fails_and_leaves_the_first_intact(env):
    base.test_duplicate_add_fails_and_leaves_the_first_intact(env)


def test_del_without_netns_or_after_the_netns_is_gone(env):
    base.test_del_without_netns_or_after_the_netns_is_gone(env)


@pytest.mark.parametrize("fields,needle", base.ROLLBACK_CASES)
def test_failed_add_rolls_back_completely(env, fields, needle):
    base.test_failed_add_rolls_back_completely(env, fields, needle)


def test_parallel_adds_get_unique_addresses_and_dels_empty_the_store(env):
    before = env.server.fds() if env.server else None
    base.test_parallel_adds_get_unique_addresses_and_dels_empty_the_store(env)
    if env.server:
        assert env.server.fds() == before  # 64 calls later: no descriptor kept


# -- the same calls, the same results, the same kernel state ---------------------------------------
MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
VETH = re.compile(r"veth[0-9a-f]{8}")


def kernel_state(env, pods):
    """What the kernel holds for this attachment set, with random MACs and veth names masked."""
    def mask(text):
        return VETH.sub("vethX", MAC.sub("MAC", text))

    def ns_state(ns):
        """Every link (kind, MTU, master, up, hairpin, global addresses) and every route."""
        found = []
        for name, link in links(ns).items():
            info = link.get("linkinfo", {})
            found.append((mask(name), info.get("info_kind"), link["mtu"], link.get("master"), "UP" in link["flags"],
                          info.get("info_slave_data", {}).get("hairpin"), addresses(ns, name)))
        return {"links": sorted(found, key=repr),
                "routes": [tuple(mask(str(f)) for f in r) for r in routes(ns, "-4") + routes(ns, "-6")]}

    rules = subprocess.run(["ip", "netns", "exec", env.host, "nft", "list", "ruleset"], capture_output=True,
                           text=True).stdout
    sysctl = subprocess.run(["ip", "netns", "exec", env.host, "sysctl", "-n", "net.ipv4.ip_forward",
                             "net.ipv6.conf.all.forwarding"], capture_output=True, text=True).stdout
    store = {n: (env.data / "podnet" / n).read_bytes() for n in store_files(env.data, "podnet")}
    return {"host": ns_state(env.host), "pods": [ns_state(p) for p in pods], "nft": rules, "sysctl": sysctl,
            "store": store}


def scenario(env):
    conf = env.conf(isDefaultGateway=True, ipMasq=True, mtu=1400, hairpinMode=True,
                    runtimeConfig={"portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]},
                    ipam={"ranges": [[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]})
    a, b = env.pod("a"), env.pod("b")
    steps = [env.call("ADD", conf, a, cid="ca"), env.call("ADD", conf, b, cid="cb", args="IP=10.88.0.77")]
    steps.append(env.call("CHECK", {**conf, "prevResult": steps[0].json()}, a, cid="ca"))
    steps.append(env.call("ADD", conf, a, cid="ca"))  # duplicate: refused
    assert ping(a, "10.88.0.77") and ping(b, "10.88.0.2")
    after_add = kernel_state(env, [a, b])
    steps.append(env.call("DEL", conf, a, cid="ca"))
    steps.append(env.call("STATUS", conf))
    after_del = kernel_state(env, [a, b])
    out = [(s.code, MAC.sub("MAC", VETH.sub("vethX", s.stdout)).replace(a, "<pod a>").replace(b, "<pod b>"))
           for s in steps]
    return out, after_add, after_del


def test_server_and_in_process_leave_the_same_results_and_kernel_state(names, tmp_path):
    """Two host namespaces, the same calls: one through the server, one in process."""
    with running_server(tmp_path) as server:
        via_server = LeanEnv(Sub(names, "s"), tmp_path / "s", server, server.socket)
        local = LeanEnv(Sub(names, "l"), tmp_path / "l", None, "/nonexistent/cni.sock")
        try:
            got_server, got_local = scenario(via_server), scenario(local)
            assert got_server == got_local
            codes = [code for code, _ in got_server[0]]
            assert codes == [0, 0, 0, 1, 0, 0]
            dup = json.loads(got_server[0][3][1])
            assert dup["code"] == spec.CONFLICT and spec.error_problems(dup) == []
            veths = [link for link in got_server[1]["host"]["links"] if link[0] == "vethX"]
            assert [v[3:6] for v in veths] == [("cni0", True, True)] * 2  # hairpin: the caller's /sys (mount ns)
            assert [v[3:6] for v in got_server[2]["host"]["links"] if v[0] == "vethX"] == [("cni0", True, True)]
            assert "dnat" in got_server[1]["nft"] and "masquerade" in got_server[1]["nft"]
            assert server.served() == via_server.calls == 6
        finally:
            via_server.cleanup()
            local.cleanup()


def test_the_callers_working_directory_is_honoured(names, tmp_path):
    """CNI_PATH may be relative: the reference host-local is found from the caller's cwd."""
    if not has_reference("host-local"):
        pytest.skip("containernetworking-plugins is not installed (apt-get install containernetworking-plugins)")
    with running_server(tmp_path) as server:
        results = []
        for e in (LeanEnv(Sub(names, "s"), tmp_path / "s", server, server.socket),
                  LeanEnv(Sub(names, "l"), tmp_path / "l", None, "/nonexistent/cni.sock")):
            try:
                conf = e.conf(version="1.0.0", ipam={"type": "host-local"})
                pod = e.pod("p")
                env = {**e.extra, "CNI_PATH": "cni"}
                cmd = ["ip", "netns", "exec", e.host, e.plugin]
                r = subprocess.run(cmd, input=json.dumps(conf).encode(), cwd="/usr/lib", capture_output=True,
                                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1",
                                        "CNI_NETNS": netns_path(pod), "CNI_IFNAME": "eth0", **env})
                results.append((r.returncode, json.loads(r.stdout)["ips"]))
                r = subprocess.run(cmd, input=json.dumps(conf).encode(), cwd="/usr/lib", capture_output=True,
                                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c1",
                                        "CNI_NETNS": netns_path(pod), "CNI_IFNAME": "eth0", **env})
                assert r.returncode == 0, r
            finally:
                e.cleanup()
        assert results[0] == results[1] and results[0][0] == 0, results
        assert server.served() == 2


def test_a_killed_server_leaves_the_node_working(names, tmp_path):
    """kill -9: calls fall back in process; the attachments made before still work and go."""
    server = CniServer(tmp_path).start()
    e = LeanEnv(names, tmp_path, server, server.socket)
    try:
        conf = e.conf()
        a, b = e.pod("a"), e.pod("b")
        assert e.call("ADD", conf, a, cid="ca").code == 0
        server.kill()
        r = e.call("ADD", conf, b, cid="cb")
        assert r.code == 0 and r.stderr == "", r
        assert ping(a, "10.88.0.3") and ping(b, "10.88.0.2")
        assert e.call("DEL", conf, a, cid="ca").code == 0 and e.call("DEL", conf, b, cid="cb").code == 0
        assert e.host_veths() == [] and nft_tables(e.host) == [] and list(links(a)) == ["lo"]
        assert store_files(e.data, "podnet") == ["last_reserved_ip.0", "lock"]
    finally:
        e.cleanup()
        server.stop()


def test_the_server_preloads_everything_a_call_imports(names, tmp_path):
    """A real ADD/CHECK/DEL/STATUS in process imports nothing the server has not imported."""
    e = base.Env(names, tmp_path)
    try:
        pod = e.pod("p")
        conf = e.conf(isDefaultGateway=True, ipMasq=True, hairpinMode=True,
                      runtimeConfig={"portMappings": [{"hostPort": 18080, "containerPort": 8080, "protocol": "tcp"}]},
                      ipam={"ranges": [[{"subnet": "10.88.0.0/24"}], [{"subnet": "fd00:88::/64"}]]})
        probe = f"""
import io, json, sys
from kubenetctl.cni import plugin
env = {{"CNI_CONTAINERID": "c1", "CNI_NETNS": {netns_path(pod)!r}, "CNI_IFNAME": "eth0", "CNI_PATH": "/x",
       "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}}
conf = {conf!r}
codes = []
for cmd in ("ADD", "CHECK", "STATUS", "GC", "DEL"):
    out = io.StringIO()
    c = dict(conf, prevResult=res) if cmd == "CHECK" else conf
    codes.append(plugin.run({{**env, "CNI_COMMAND": cmd}}, json.dumps(c).encode(), out))
    res = json.loads(out.getvalue()) if cmd == "ADD" else None
print(json.dumps({{"codes": codes, "modules": sorted(sys.modules)}}))
"""
        run = subprocess.run(["ip", "netns", "exec", e.host, sys.executable, "-c", probe], capture_output=True,
                             text=True, check=True)
        got = json.loads(run.stdout)
        assert got["codes"] == [0, 0, 0, 1, 0]  # GC without valid-attachments is an error: its path too
        preload = ("import json, sys\nfrom kubenetctl.cni import server\nserver.preload()\n"
                   "print(json.dumps(sorted(sys.modules)))")
        preloaded = json.loads(subprocess.run([sys.executable, "-c", preload], capture_output=True, text=True,
                                              check=True).stdout)
        assert sorted(set(got["modules"]) - set(preloaded)) == []
    finally:
        e.cleanup()


"""A real container runtime: podman 4.3 with its CNI backend runs containers on a network
whose plugin is kubenetctl-cni (see shared/reference/runtimes.md).

Podman's configuration, storage and temp files live under the test's temp directory (its
run state in a short private directory); the teardown checks that no container and no veth
on the bridge is left. The containers run a busybox root directory (no registry here).
The plugin runs in the machine's own namespace, as under any runtime: its bridge is named
by the `names` fixture and deleted at the end; no gateway, no masquerade, so no sysctl or
firewall rule of the machine is touched.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.cni_helpers import plugin_exe, store_ips

pytestmark = pytest.mark.skipif(
    not (shutil.which("podman") and shutil.which("runc") and os.path.exists("/bin/busybox")),
    reason="needs podman, runc and busybox-static (apt-get install podman runc busybox-static)",
)


class Podman:
    def __init__(self, tmp, bridge):
        self.tmp = tmp
        self.bridge = bridge
        self.data = tmp / "data"
        # podman refuses a runroot longer than 50 characters: a short private directory
        self.runroot = tempfile.mkdtemp(prefix="kn-podman-")
        for d in ("netd", "bin", "root", "tmp", "rootfs/bin"):
            (tmp / d).mkdir(parents=True)
        (tmp / "bin" / "kubenetctl-cni").symlink_to(plugin_exe())
        shutil.copy("/bin/busybox", tmp / "rootfs/bin/busybox")
        applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                (tmp / "rootfs/bin" / applet).symlink_to("busybox")
        (tmp / "containers.conf").write_text(f"""
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
default_sysctls = ["net.ipv4.ping_group_range=0 0"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["{tmp}/bin", "/usr/lib/cni"]
network_config_dir = "{tmp}/netd"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "{tmp}/tmp"
static_dir = "{tmp}/root/libpod"
volume_path = "{tmp}/root/volumes"
""")

    def network(self, name, subnet, **fields):
        conf = {"cniVersion": "1.0.0", "name": name, "plugins": [{
            "type": "kubenetctl-cni", "bridge": self.bridge, **fields,
            "ipam": {"type": "kubenetctl-cni", "dataDir": str(self.data), "ranges": [[{"subnet": subnet}]]}}]}
        (self.tmp / "netd" / f"{name}.conflist").write_text(json.dumps(conf))

    def __call__(self, *args, check=True):
        cmd = ["podman", "--root", str(self.tmp / "root"), "--runroot", self.runroot,
               "--storage-driver", "vfs", *args]
        env = {**os.environ, "CONTAINERS_CONF": str(self.tmp / "containers.conf")}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        if check:
            assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
        return proc

    def run(self, network, *cmd, detach=False, check=True):
        return self("run", *(["-d"] if detach else ["--rm"]), "--network", network, "--rootfs", str(self.tmp / "rootfs"),
                    *cmd, check=check)


@pytest.fixture
def podman(names, tmp_path):
    pm = Podman(tmp_path, names.link("pm"))
    yield pm
    try:  # what podman keeps outside tmp_path: its containers' namespaces and our veths on the bridge
        pm("rm", "-a", "-f", "-t", "0", check=False)
        assert pm("ps", "-aq", check=False).stdout.strip() == "", "podman kept containers"
        ports = subprocess.run(["ip", "-o", "link", "show", "master", pm.bridge], capture_output=True, text=True).stdout
        assert ports.strip() == "", f"veths left on {pm.bridge}: {ports}"
    finally:
        shutil.rmtree(pm.runroot, ignore_errors=True)
        subprocess.run(["ip", "link", "del", pm.bridge], capture_output=True)


def test_two_containers_get_our_addresses_ping_each_other_and_free_them(podman):
    podman.network("knpod", "10.93.0.0/24")
    c1 = podman.run("knpod", "/bin/sleep", "120", detach=True).stdout.strip()
    c2 = podman.run("knpod", "/bin/sleep", "120", detach=True).stdout.strip()
    ip1 = podman("exec", c1, "/bin/sh", "-c", "ip -4 -o addr show eth0").stdout.split()[3]
    ip2 = podman("exec", c2, "/bin/sh", "-c", "ip -4 -o addr show eth0").stdout.split()[3]
    assert sorted([ip1, ip2]) == ["10.93.0.2/24", "10.93.0.3/24"]
    # the addresses come from our store, recorded for podman's 64-hex container ids
    assert store_ips(podman.data, "knpod") == ["10.93.0.2", "10.93.0.3"]
    owners = {(podman.data / "knpod" / ip).read_bytes().split(b"\r\n")[0].decode() for ip in ("10.93.0.2", "10.93.0.3")}
    assert owners == {c1, c2}
    # podman shows the address our result reported (it needs interfaces[].sandbox and ips[].interface)
    inspect = json.loads(podman("inspect", c1).stdout)[0]["NetworkSettings"]["Networks"]["knpod"]
    assert f"{inspect['IPAddress']}/{inspect['IPPrefixLen']}" == ip1
    ping = podman("exec", c1, "/bin/ping", "-c", "2", "-W", "2", ip2.split("/")[0], check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    podman("rm", "-f", "-t", "0", c1, c2)
    assert store_ips(podman.data, "knpod") == []
    ports = subprocess.run(["ip", "-j", "link", "show", "master", podman.bridge], capture_output=True, text=True).stdout
    assert json.loads(ports or "[]") == []


def test_a_plugin_error_reaches_the_podman_user(podman):
    podman.network("tiny", "10.94.0.0/30")  # one usable address
    first = podman.run("tiny", "/bin/sleep", "120", detach=True).stdout.strip()
    failed = podman.run("tiny", "/bin/true", check=False)
    assert failed.returncode == 126, failed.stderr
    error = [line for line in failed.stderr.splitlines() if line.startswith("Error: ")]
    assert error == [
        'Error: plugin type="kubenetctl-cni" failed (add): cni plugin kubenetctl-cni failed: no IP addresses available '
        f"in range set: 10.94.0.1-10.94.0.2: free the addresses of containers that are gone: kubenetctl ipam gc tiny "
        f"--data-dir {podman.data} --dry-run, then without --dry-run"], failed.stderr
    assert store_ips(podman.data, "tiny") == ["10.94.0.2"]  # the failed container holds nothing
    owner = (podman.data / "tiny" / "10.94.0.2").read_bytes().split(b"\r\n")[0].decode()
    assert owner == first
    podman("rm", "-f", "-t", "0", first)
    assert store_ips(podman.data, "tiny") == []


def test_invalid_configuration_is_readable_for_podman_users(podman):
    podman.network("bad", "10.95.0.5/24")
    failed = podman.run("bad", "/bin/true", check=False)
    assert failed.returncode != 0
    assert "has host bits set" in failed.stderr and "did you mean 10.95.0.0/24?" in failed.stderr, failed.stderr

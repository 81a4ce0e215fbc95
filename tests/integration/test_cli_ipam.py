"""kubenetctl ipam on a real store and real namespaces: alloc, list (is the netns alive?),
release, gc with --dry-run and with a list of valid attachments."""

import json
import subprocess

import pytest

from tests.cni_helpers import add_netns, bridge_conf, call, cni_bin, netns_path, store_ips
from tests.helpers import kn_inprocess as kn


@pytest.fixture
def pod(names):
    made = []

    def make(base):
        ns = names.ns(base)
        add_netns(ns)
        made.append(ns)
        return ns

    yield make
    for ns in made:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_alloc_list_gc_release(pod, tmp_path):
    data, cache = str(tmp_path / "data"), str(tmp_path / "cache")
    host, live = pod("host"), pod("live")
    # a live attachment made by the plugin (its address sits on eth0 in the pod netns)
    conf = bridge_conf("net1", tmp_path / "data", "cni0", subnet="10.31.0.0/24")
    r = call(cni_bin(tmp_path) + "/kubenetctl-cni", "ADD", conf, host=host, netns=netns_path(live), container_id="alive",
             cni_path=cni_bin(tmp_path))
    assert r.code == 0, r
    # two stale ones, as after a reboot or a missed DEL
    r = kn("-o", "json", "ipam", "alloc", "net1", "--container-id", "gone1", "--subnet", "10.31.0.0/24", "--data-dir", data)
    assert r.code == 0, r
    assert r.json()["items"][0]["cidr"] == "10.31.0.3/24"
    r = kn("ipam", "alloc", "net1", "--container-id", "gone2", "--ifname", "net9", "--subnet", "10.31.0.0/24",
           "--ip", "10.31.0.77", "--data-dir", data)
    assert r.code == 0 and "10.31.0.77/24" in r.stdout
    r = kn("ipam", "alloc", "net1", "--container-id", "gone3", "--subnet", "10.31.0.0/24", "--ip", "10.31.0.77",
           "--data-dir", data)
    assert r.code == 4 and "not available" in r.stderr

    listing = kn("-o", "json", "ipam", "list", "net1", "--data-dir", data, "--cache-dir", cache)
    assert listing.code == 0, listing
    doc = listing.json()
    assert doc["kind"] == "IPAllocationList"
    rows = {i["ip"]: i for i in doc["items"]}
    assert rows["10.31.0.2"]["alive"] is True and rows["10.31.0.2"]["netns"] == netns_path(live)
    assert rows["10.31.0.2"]["reason"] == f"10.31.0.2 is on eth0 in {netns_path(live)}"
    assert rows["10.31.0.3"]["alive"] is False and rows["10.31.0.77"]["alive"] is False
    assert "no network namespace has 10.31.0.77 on net9" == rows["10.31.0.77"]["reason"]
    human = kn("ipam", "list", "--data-dir", data, "--cache-dir", cache).stdout
    assert "NETNS ALIVE" in human and "gone1" in human

    dry = kn("-o", "json", "ipam", "gc", "net1", "--dry-run", "--data-dir", data, "--cache-dir", cache)
    assert dry.code == 0 and dry.json()["dryRun"] is True
    assert sorted(i["ip"] for i in dry.json()["items"]) == ["10.31.0.3", "10.31.0.77"]
    assert store_ips(tmp_path / "data", "net1") == ["10.31.0.2", "10.31.0.3", "10.31.0.77"]  # nothing changed
    gc = kn("ipam", "gc", "net1", "--data-dir", data, "--cache-dir", cache)
    assert gc.code == 0 and gc.stdout.count("released") == 2
    assert store_ips(tmp_path / "data", "net1") == ["10.31.0.2"]

    # gc against an explicit list of valid attachments releases everything else, alive or not
    r = kn("ipam", "alloc", "net1", "--container-id", "keep", "--subnet", "10.31.0.0/24", "--data-dir", data)
    assert r.code == 0
    valid = tmp_path / "valid.json"
    valid.write_text(json.dumps({"cni.dev/valid-attachments": [{"containerID": "keep", "ifname": "eth0"}]}))
    r = kn("-o", "json", "ipam", "gc", "net1", "--valid-file", str(valid), "--data-dir", data)
    assert r.code == 0 and [i["ip"] for i in r.json()["items"]] == ["10.31.0.2"]
    assert store_ips(tmp_path / "data", "net1") == ["10.31.0.78"]  # round-robin after .77
    r = kn("ipam", "release", "net1", "--container-id", "keep", "--data-dir", data)
    assert r.code == 0 and "released" in r.stdout and store_ips(tmp_path / "data", "net1") == []
    r = kn("ipam", "release", "net1", "--container-id", "keep", "--data-dir", data)
    assert r.code == 0 and "(none)" in r.stdout  # already free: success
    call(cni_bin(tmp_path) + "/kubenetctl-cni", "DEL", conf, host=host, netns=netns_path(live), container_id="alive",
         cni_path=cni_bin(tmp_path))


def test_cached_netns_decides_liveness(tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    (cache / "results").mkdir(parents=True)
    (data / "n").mkdir(parents=True)
    (data / "n" / "10.32.0.2").write_bytes(b"cid1\r\neth0")
    (cache / "results" / "n-cid1-eth0").write_text(json.dumps(
        {"kind": "cniCacheV1", "containerId": "cid1", "ifName": "eth0", "networkName": "n", "netns": "/run/netns/kt-none"}))
    r = kn("-o", "json", "ipam", "list", "n", "--data-dir", str(data), "--cache-dir", str(cache))
    assert r.json()["items"][0]["reason"] == "result cache: netns /run/netns/kt-none is gone"


@pytest.mark.parametrize("args,code,needle", [
    (["ipam", "alloc", "../x", "--container-id", "c", "--subnet", "10.0.0.0/24"], 2, "network name '../x'"),
    (["ipam", "alloc", "n", "--container-id", "a/b", "--subnet", "10.0.0.0/24"], 2, "invalid characters in containerID"),
    (["ipam", "alloc", "n", "--container-id", "c", "--subnet", "10.0.0.1/24"], 2, "has host bits set"),
    (["ipam", "alloc", "n", "--container-id", "c"], 2, "give --subnet"),
    (["ipam", "gc", "n", "--valid", "/eth0"], 2, "is not CONTAINER_ID[/IFNAME]"),
    (["ipam", "list"], 3, "does not exist"),
])
def test_bad_input(tmp_path, args, code, needle):
    r = kn(*args, "--data-dir", str(tmp_path / "nope"))
    assert r.code == code and needle in r.stderr and r.stdout == "", r
    assert not (tmp_path / "nope").exists()

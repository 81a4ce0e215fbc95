"""trace on VLAN-split pods: the "pod on the wrong VLAN" fault, statically and with --probe.

Two node namespaces joined by a trunk veth; each pod's eth0 is an 802.1Q sub-interface of
the trunk end in its node, created straight into the pod. Needs 802.1Q, so it runs in the
full-kernel lane (scripts/kernel-lane); on this kernel it is reported as skipped.
"""

from __future__ import annotations

import json

import pytest

from kubenetctl.errors import ExitCode
from tests.helpers import ping

pytestmark = pytest.mark.fullkernel


def _run(kn, *args: str) -> None:  # type: ignore[no-untyped-def]
    result = kn(*args)
    assert result.code == 0, result


@pytest.fixture
def vlan_pods(kn, names):  # type: ignore[no-untyped-def]
    """podA on VLAN 10 behind nodeA; podB behind nodeB, on the VLAN the test asks for."""
    na, nb, pa, pb = names.ns("nodeA"), names.ns("nodeB"), names.ns("podA"), names.ns("podB")
    _run(kn, "ns", "add", na, nb, pa, pb)

    def make(tag_b: int, *, warm: bool = False) -> tuple[str, str, str, str]:
        _run(kn, "veth", "add", "trunk", "-n", na, "--peer", "trunk", "--peer-netns", nb)
        _run(kn, "vlan", "add", "eth0", "--parent", "trunk", "--id", "10", "-n", na, "--into", pa,
             "--addr", "10.30.0.1/24")
        _run(kn, "vlan", "add", "eth0", "--parent", "trunk", "--id", str(tag_b), "-n", nb, "--into", pb,
             "--addr", "10.30.0.2/24")
        if warm:  # a cached neighbour: the frame leaves podA tagged and is dropped on arrival
            mac = json.loads(kn("-o", "json", "link", "list", "-n", pb).stdout)["items"]
            eth0 = next(item for item in mac if item["name"] == "eth0")["mac"]
            _run(kn, "neigh", "add", "eth0", "10.30.0.2", eth0, "-n", pa)
        return na, nb, pa, pb

    yield make
    _run(kn, "ns", "del", na, nb, pa, pb)


def trace(kn, src: str, dst: str, *extra: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    result = kn("-o", "json", "trace", src, dst, *extra)
    assert result.code in (0, ExitCode.CHECK_FAILED), result
    return result.code, json.loads(result.stdout)


def test_same_vlan_is_reachable_and_probed(kn, vlan_pods):
    na, nb, pa, pb = vlan_pods(10)
    assert ping(pa, "10.30.0.2")
    code, doc = trace(kn, pa, pb, "--probe", "--timeout", "1.5")
    assert code == 0 and doc["reachable"], doc["forward"]
    assert [(h["netns"], h["dev"], h["direction"]) for h in doc["forward"]["hops"]] == [
        (pa, "eth0", "out"), (na, "trunk", "out"), (nb, "trunk", "in"), (pb, "eth0", "in")]
    assert doc["probe"]["agrees"], doc["probe"]


@pytest.mark.parametrize("warm", [False, True], ids=["arp", "cached-neighbour"])
def test_pod_on_the_wrong_vlan(kn, vlan_pods, warm):
    na, nb, pa, pb = vlan_pods(20, warm=warm)
    assert not ping(pa, "10.30.0.2")
    code, doc = trace(kn, pa, pb)
    stop = doc["forward"]["stop"]
    assert code == ExitCode.CHECK_FAILED
    assert (stop["reason"], stop["netns"], stop["dev"]) == ("vlan_mismatch", nb, "trunk"), stop
    assert "VLAN 10" in stop["message"] and ("VLAN 20" in stop["message"] or "VLANs 20" in stop["message"])
    code, probed = trace(kn, pa, pb, "--probe", "--timeout", "1.5")
    assert code == ExitCode.CHECK_FAILED and probed["probe"]["agrees"], probed["probe"]
    if warm:  # seen leaving podA and crossing the trunk, gone after nodeB's trunk
        assert all(probed["probe"]["forward"]["seen"])
        assert probed["forward"]["hops"][-1] == {**probed["forward"]["hops"][-1], "netns": nb, "dev": "trunk",
                                                 "direction": "in"}

"""IPAM without root: range arithmetic, the host-local file format, allocation rules."""

import ipaddress
import os
import threading

import pytest

from kubenetctl.errors import Busy, Conflict, ExitCode, InvalidInput
from kubenetctl.ipam import allocator
from kubenetctl.ipam.ranges import Range, RangeSet, parse_ipam_ranges
from kubenetctl.ipam.store import FileStore, StoreCorrupt

ip = ipaddress.ip_address


def rs(*ranges):
    return RangeSet.parse(list(ranges))


# -- ranges -------------------------------------------------------------------------------
def test_range_defaults_like_host_local():
    r = Range.parse({"subnet": "10.1.2.0/24"})
    assert (str(r.start), str(r.end), str(r.gateway)) == ("10.1.2.1", "10.1.2.254", "10.1.2.1")
    assert r.size() == 253
    r6 = Range.parse({"subnet": "fd00::/120"})
    assert (str(r6.start), str(r6.end), str(r6.gateway)) == ("fd00::1", "fd00::fe", "fd00::1")


@pytest.mark.parametrize("data,needle", [
    ({"subnet": "10.1.2.3/24"}, "has host bits set"),
    ({"subnet": "10.1.2.0/31"}, "too small to allocate from"),
    ({"subnet": "nope"}, "is not a subnet"),
    ({"subnet": "10.1.2.0"}, "is not a subnet"),
    ({"subnet": "10.1.2.0/24", "rangeStart": "10.1.3.1"}, "rangeStart: 10.1.3.1 is not in subnet"),
    ({"subnet": "10.1.2.0/24", "rangeEnd": "fd00::1"}, "is not an IPv4 address"),
    ({"subnet": "10.1.2.0/24", "rangeStart": "10.1.2.9", "rangeEnd": "10.1.2.8"}, "is after rangeEnd"),
    ({"subnet": "10.1.2.0/24", "gateway": "10.1.2.x"}, "gateway: '10.1.2.x' is not an IP address"),
    ({}, "subnet: missing"),
])
def test_bad_ranges_are_named(data, needle):
    with pytest.raises(InvalidInput) as err:
        Range.parse(data, "ipam.ranges[0][0]")
    assert needle in str(err.value) and str(err.value).startswith("ipam.ranges[0][0]")
    assert err.value.exit_code == ExitCode.USAGE


def test_range_set_rules():
    with pytest.raises(InvalidInput, match="mixes IPv4 and IPv6"):
        rs({"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"})
    with pytest.raises(InvalidInput, match="overlaps"):
        rs({"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/25"})
    with pytest.raises(InvalidInput, match="range set .* overlaps range set"):
        parse_ipam_ranges({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/16"}]]})
    with pytest.raises(InvalidInput, match="no IP ranges configured"):
        parse_ipam_ranges({})
    legacy = parse_ipam_ranges({"subnet": "10.9.0.0/24", "rangeStart": "10.9.0.10", "ranges": [[{"subnet": "fd00::/64"}]]})
    assert [str(s) for s in legacy] == ["10.9.0.10-10.9.0.254", "fd00::1-fd00::ffff:ffff:ffff:fffe"]


def test_iteration_skips_gateway_and_round_robins_across_ranges():
    s = rs({"subnet": "10.0.0.0/29"}, {"subnet": "10.0.1.0/29", "rangeStart": "10.0.1.4", "gateway": "10.0.1.5"})
    order = [str(a) for a, _ in s.candidates(None)]
    assert order == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.1.4", "10.0.1.6"]
    after = [str(a) for a, _ in s.candidates(ip("10.0.0.6"))]
    assert after == ["10.0.1.4", "10.0.1.6", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    assert len(after) == s.size()


def test_iteration_ipv6():
    s = rs({"subnet": "fd00:1::/125"})
    assert [str(a) for a, _ in s.candidates(ip("fd00:1::5"))] == ["fd00:1::6", "fd00:1::2", "fd00:1::3", "fd00:1::4", "fd00:1::5"]


# -- store format ---------------------------------------------------------------------------
def test_store_writes_host_local_format(tmp_path):
    store = FileStore(str(tmp_path), "net1")
    with store.locked():
        assert store.reserve("10.0.0.2", " abc ", "eth0", 0)
        assert not store.reserve("10.0.0.2", "other", "eth0", 0)
    d = tmp_path / "net1"
    assert (d / "10.0.0.2").read_bytes() == b"abc\r\neth0"
    assert (d / "last_reserved_ip.0").read_text() == "10.0.0.2"
    assert (d / "lock").exists()


def test_store_reads_lf_crlf_and_legacy(tmp_path):
    d = tmp_path / "n"
    d.mkdir()
    (d / "10.0.0.2").write_bytes(b"aaa\r\neth0")
    (d / "10.0.0.3").write_bytes(b"bbb\neth1\n")
    (d / "10.0.0.4").write_bytes(b"ccc")
    (d / "notes.txt").write_text("ignored")
    store = FileStore(str(tmp_path), "n")
    assert [(a.ip, a.container_id, a.ifname) for a in store.allocations()] == [
        ("10.0.0.2", "aaa", "eth0"), ("10.0.0.3", "bbb", "eth1"), ("10.0.0.4", "ccc", None)]
    assert store.release_by_id("bbb", "eth1") == ["10.0.0.3"]
    assert store.release_by_id("ccc", "eth0") == ["10.0.0.4"]  # legacy: by container id alone
    assert sorted(os.listdir(d)) == ["10.0.0.2", "notes.txt"]


@pytest.mark.parametrize("content", [b"", b"a\nb\nc", b"\xff\xfe"])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    d = tmp_path / "n"
    d.mkdir()
    (d / "10.0.0.9").write_bytes(content)
    with pytest.raises(StoreCorrupt) as err:
        FileStore(str(tmp_path), "n").allocations()
    assert str(d / "10.0.0.9") in str(err.value) and err.value.exit_code == ExitCode.BUSY


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", "", ".hidden", "x y"])
def test_network_name_cannot_escape_data_dir(tmp_path, name):
    with pytest.raises(InvalidInput, match="network name"):
        FileStore(str(tmp_path), name)


def test_lock_is_exclusive_and_times_out(tmp_path):
    store = FileStore(str(tmp_path), "n")
    with store.locked():
        with pytest.raises(Busy, match="stayed locked"):
            with FileStore(str(tmp_path), "n").locked(timeout=0.05):
                pass


# -- allocation -------------------------------------------------------------------------------
def sets(*subnets):
    return [RangeSet.parse([{"subnet": s}]) for s in subnets]


def test_allocate_dual_stack_round_robin_and_release(tmp_path):
    store = FileStore(str(tmp_path), "n")
    ranges = sets("10.0.0.0/29", "fd00::/125")
    a = allocator.allocate(store, ranges, "c1", "eth0")
    assert [x.cidr for x in a] == ["10.0.0.2/29", "fd00::2/125"]
    b = allocator.allocate(store, ranges, "c2", "eth0")
    assert [x.cidr for x in b] == ["10.0.0.3/29", "fd00::3/125"]
    assert sorted(allocator.release(store, "c1", "eth0")) == ["10.0.0.2", "fd00::2"]
    c = allocator.allocate(store, ranges, "c3", "eth0")
    assert [str(x.ip) for x in c] == ["10.0.0.4", "fd00::4"]  # continues after the last reserved, like host-local


def test_requested_ip_and_errors_change_nothing(tmp_path):
    store = FileStore(str(tmp_path), "n")
    ranges = sets("10.0.0.0/29")
    assert str(allocator.allocate(store, ranges, "c1", "eth0", [ip("10.0.0.5")])[0].ip) == "10.0.0.5"
    snapshot = sorted(os.listdir(tmp_path / "n")), (tmp_path / "n" / "last_reserved_ip.0").read_text()
    with pytest.raises(Conflict, match="not available"):
        allocator.allocate(store, ranges, "c2", "eth0", [ip("10.0.0.5")])
    with pytest.raises(InvalidInput, match="is the gateway"):
        allocator.allocate(store, ranges, "c2", "eth0", [ip("10.0.0.1")])
    with pytest.raises(InvalidInput, match="not in any configured range"):
        allocator.allocate(store, ranges, "c2", "eth0", [ip("10.0.1.5")])
    with pytest.raises(allocator.DuplicateAllocation, match="duplicate allocation"):
        allocator.allocate(store, ranges, "c1", "eth0")
    assert (sorted(os.listdir(tmp_path / "n")), (tmp_path / "n" / "last_reserved_ip.0").read_text()) == snapshot


def test_exhaustion_rolls_back_other_range_sets(tmp_path):
    store = FileStore(str(tmp_path), "n")
    ranges = sets("fd00::/125", "10.0.0.0/30")  # the /30 has one usable address
    allocator.allocate(store, ranges, "c1", "eth0")
    before = sorted(os.listdir(tmp_path / "n")), (tmp_path / "n" / "last_reserved_ip.0").read_text()
    with pytest.raises(allocator.AddressesExhausted) as err:
        allocator.allocate(store, ranges, "c2", "eth0")
    assert "no IP addresses available in range set: 10.0.0.1-10.0.0.2" in str(err.value)
    assert "ipam gc" in err.value.hint
    assert (sorted(os.listdir(tmp_path / "n")), (tmp_path / "n" / "last_reserved_ip.0").read_text()) == before


def test_corrupt_last_reserved_is_reported(tmp_path):
    store = FileStore(str(tmp_path), "n")
    (tmp_path / "n").mkdir()
    (tmp_path / "n" / "last_reserved_ip.0").write_text("garbage")
    with pytest.raises(StoreCorrupt, match="last_reserved_ip.0: 'garbage' is not an IP address"):
        allocator.allocate(store, sets("10.0.0.0/24"), "c1", "eth0")
    assert sorted(os.listdir(tmp_path / "n")) == ["last_reserved_ip.0", "lock"]


def test_threads_never_share_an_address(tmp_path):
    ranges = sets("10.0.0.0/26")
    got, errors = [], []

    def one(i):
        try:
            got.append(str(allocator.allocate(FileStore(str(tmp_path), "n"), ranges, f"c{i}", "eth0")[0].ip))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(got)) == 40


def test_valid_attachments_match_one_way_for_cli_and_cni_gc():
    from kubenetctl.ipam.store import Allocation, attachment

    valid = {attachment("c1/net1", "--valid"), attachment("c2", "--valid")}
    assert valid == {("c1", "net1"), ("c2", "eth0")}
    assert Allocation("10.0.0.2", "c1", "net1", "").attached(valid)
    assert not Allocation("10.0.0.3", "c1", "eth0", "").attached(valid)
    assert Allocation("10.0.0.4", "c1", None, "").attached(valid)  # legacy file: any interface of c1
    assert not Allocation("10.0.0.5", "c3", None, "").attached(valid)
    with pytest.raises(InvalidInput, match="'/eth0' is not CONTAINER_ID"):
        attachment("/eth0", "--valid")

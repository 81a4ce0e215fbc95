"""The plugin's dispatch without root: env, stdin and stdout injected (IPAM mode needs no
kernel), spec errors with their codes, CNI_ARGS/runtimeConfig requests, import hygiene."""

import io
import json
import os
import subprocess
import sys

import pytest

from kubenetctl.cni import plugin, spec
from kubenetctl.cni.netconf import port_mappings, requested_mac
from kubenetctl.cni.request import Request

PROG = "kubenetctl-cni"


def run(env, conf, command=None):
    out = io.StringIO()
    env = dict(env)
    if command:
        env["CNI_COMMAND"] = command
    stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
    code = plugin.run(env, stdin, out, PROG)
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None


def ipam_conf(tmp_path, version="1.1.0", **ipam):
    section = {"type": PROG, "dataDir": str(tmp_path), "ranges": [[{"subnet": "10.5.0.0/29"}], [{"subnet": "fd00:5::/125"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dns": {"nameservers": ["10.5.0.1"]}, **ipam}
    return {"cniVersion": version, "name": "net5", "type": "bridge", "ipam": section}


ENV = {"CNI_CONTAINERID": "c1", "CNI_NETNS": "/proc/self/ns/net", "CNI_IFNAME": "eth0", "CNI_PATH": "/nowhere"}


def test_version_lists_every_supported_version():
    code, doc = run({}, {"cniVersion": "0.4.0"}, "VERSION")
    assert code == 0 and doc == {"cniVersion": "0.4.0", "supportedVersions": list(spec.SUPPORTED_VERSIONS)}
    assert run({}, b"", "VERSION")[1]["cniVersion"] == "1.1.0"


@pytest.mark.parametrize("version", spec.SUPPORTED_VERSIONS)
def test_ipam_add_del_in_every_version(tmp_path, version):
    code, res = run(ENV, ipam_conf(tmp_path, version), "ADD")
    assert code == 0, res
    assert res["cniVersion"] == version
    assert spec.result_problems(res, version) == []
    if spec.vtuple(version) >= (0, 3, 0):
        assert [ip["address"] for ip in res["ips"]] == ["10.5.0.2/29", "fd00:5::2/125"]
        assert res["ips"][0]["gateway"] == "10.5.0.1" and "interface" not in res["ips"][0]
        assert ("version" in res["ips"][0]) == (spec.vtuple(version) < (1, 0, 0))
        assert res["routes"] == [{"dst": "0.0.0.0/0"}] and res["dns"] == {"nameservers": ["10.5.0.1"]}
    else:
        assert res["ip4"] == {"ip": "10.5.0.2/29", "gateway": "10.5.0.1", "routes": [{"dst": "0.0.0.0/0"}]}
        assert res["ip6"]["ip"] == "fd00:5::2/125"
    assert sorted(os.listdir(tmp_path / "net5")) == ["10.5.0.2", "fd00:5::2", "last_reserved_ip.0", "last_reserved_ip.1", "lock"]
    assert run(ENV, ipam_conf(tmp_path, version), "DEL") == (0, None)
    assert run(ENV, ipam_conf(tmp_path, version), "DEL") == (0, None)  # DEL twice: still success
    assert sorted(os.listdir(tmp_path / "net5")) == ["last_reserved_ip.0", "last_reserved_ip.1", "lock"]


def test_ipam_duplicate_add_fails_and_keeps_the_first(tmp_path):
    assert run(ENV, ipam_conf(tmp_path), "ADD")[0] == 0
    code, err = run(ENV, ipam_conf(tmp_path), "ADD")
    assert code == 1 and err["code"] == spec.CONFLICT and "duplicate allocation" in err["msg"]
    assert (tmp_path / "net5" / "10.5.0.2").read_bytes() == b"c1\r\neth0"


def test_ipam_check_status_gc(tmp_path):
    conf = ipam_conf(tmp_path)
    _, res = run(ENV, conf, "ADD")
    assert run(ENV, {**conf, "prevResult": res}, "CHECK") == (0, None)
    wrong = json.loads(json.dumps(res))
    wrong["ips"][0]["address"] = "10.5.0.6/29"
    code, err = run(ENV, {**conf, "prevResult": wrong}, "CHECK")
    assert code == 1 and err["code"] == spec.CHECK_MISMATCH and "10.5.0.6" in err["msg"]
    code, err = run(ENV, conf, "CHECK")
    assert code == 1 and err["code"] == spec.INVALID_CONFIG and "prevResult" in err["msg"]
    assert run({}, conf, "STATUS") == (0, None)
    run({**ENV, "CNI_CONTAINERID": "c2"}, conf, "ADD")
    gc = {**conf, "cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "eth0"}]}
    assert run({}, gc, "GC") == (0, None)
    assert sorted(os.listdir(tmp_path / "net5"))[:2] == ["10.5.0.3", "fd00:5::3"]
    assert "10.5.0.2" not in os.listdir(tmp_path / "net5")


def test_status_reports_exhaustion_as_50(tmp_path):
    conf = ipam_conf(tmp_path, ranges=[[{"subnet": "10.6.0.0/30"}]])
    assert run(ENV, conf, "ADD")[0] == 0
    code, err = run({}, conf, "STATUS")
    assert code == 1 and err["code"] == spec.NOT_AVAILABLE and "no IP addresses available" in err["msg"]
    code, err = run({**ENV, "CNI_CONTAINERID": "c2"}, conf, "ADD")
    assert code == 1 and err["code"] == spec.NO_ADDRESSES and "kubenetctl ipam gc" in err["details"]


def test_requested_ip_and_mac_from_cni_args_and_runtime_config(tmp_path):
    conf = ipam_conf(tmp_path)
    code, res = run({**ENV, "CNI_ARGS": "IgnoreUnknown=1;IP=10.5.0.5,fd00:5::5"}, conf, "ADD")
    assert code == 0 and [ip["address"] for ip in res["ips"]] == ["10.5.0.5/29", "fd00:5::5/125"]
    conf2 = {**conf, "runtimeConfig": {"ips": ["10.5.0.6/29"]}}
    code, res = run({**ENV, "CNI_CONTAINERID": "c2"}, conf2, "ADD")
    assert code == 0 and res["ips"][0]["address"] == "10.5.0.6/29"
    code, err = run({**ENV, "CNI_CONTAINERID": "c3", "CNI_ARGS": "IP=10.5.0.5"}, conf, "ADD")
    assert code == 1 and "not available" in err["msg"]
    code, err = run({**ENV, "CNI_CONTAINERID": "c3", "CNI_ARGS": "IP=banana"}, conf, "ADD")
    assert code == 1 and err["code"] == spec.INVALID_ENV
    # the IPv6 range set continues round-robin after the requested fd00:5::5
    assert sorted(os.listdir(tmp_path / "net5"))[:4] == ["10.5.0.5", "10.5.0.6", "fd00:5::5", "fd00:5::6"]
    assert requested_mac(Request("ADD", {}, "1.0.0", args={"MAC": "0A:58:0A:05:00:05"})) == "0a:58:0a:05:00:05"
    assert requested_mac(Request("ADD", {"runtimeConfig": {"mac": "0a:58:0a:05:00:06"}}, "1.0.0")) == "0a:58:0a:05:00:06"
    with pytest.raises(spec.CniError, match="not a unicast MAC"):
        requested_mac(Request("ADD", {}, "1.0.0", args={"MAC": "01:00:5e:00:00:01"}))


def test_port_mappings_accept_both_spellings():
    lower = {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}
    upper = {"HostPort": 8080, "ContainerPort": 80, "Protocol": "TCP", "HostIP": "127.0.0.1"}
    for pm in (lower, upper):
        req = Request("ADD", {"name": "n", "runtimeConfig": {"portMappings": [pm]}}, "1.0.0")
        assert [p.to_dict() for p in port_mappings(req)] == [lower]
    req = Request("ADD", {"name": "n", "runtimeConfig": {"portMappings": [{"hostPort": 0, "containerPort": 80}]}}, "1.0.0")
    with pytest.raises(spec.CniError, match="hostPort: 0 is not a port"):
        port_mappings(req)


@pytest.mark.parametrize("env,conf,code,needle", [
    ({}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV, "[CNI_COMMAND] missing"),
    ({"CNI_COMMAND": "FROB"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV, "unknown CNI_COMMAND"),
    ({"CNI_COMMAND": "ADD"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV,
     "[CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH] missing"),
    ({**ENV, "CNI_COMMAND": "ADD", "CNI_NETNS": ""}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV, "[CNI_NETNS]"),
    ({**ENV, "CNI_COMMAND": "ADD"}, b"{not json", spec.DECODE_FAILURE, "error decoding"),
    ({**ENV, "CNI_COMMAND": "ADD"}, b"[1, 2]", spec.DECODE_FAILURE, "must be a JSON object"),
    ({**ENV, "CNI_COMMAND": "ADD"}, {"cniVersion": "9.9.9", "name": "n"}, spec.INCOMPATIBLE_VERSION, "incompatible"),
    ({**ENV, "CNI_COMMAND": "CHECK"}, {"cniVersion": "0.3.1", "name": "n"}, spec.INCOMPATIBLE_VERSION, "does not allow CHECK"),
    ({"CNI_COMMAND": "GC"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INCOMPATIBLE_VERSION, "does not allow GC"),
    ({"CNI_COMMAND": "STATUS"}, {"cniVersion": "0.4.0", "name": "n"}, spec.INCOMPATIBLE_VERSION, "does not allow STATUS"),
    ({**ENV, "CNI_COMMAND": "ADD"}, {"cniVersion": "1.0.0", "name": "../../etc"}, spec.INVALID_CONFIG, "invalid characters"),
    ({**ENV, "CNI_COMMAND": "ADD"}, {"cniVersion": "1.0.0"}, spec.INVALID_CONFIG, "missing network name"),
    ({**ENV, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "../x"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV,
     "invalid characters in containerID"),
    ({**ENV, "CNI_COMMAND": "DEL", "CNI_CONTAINERID": "a/b"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV,
     "invalid characters in containerID"),
    ({**ENV, "CNI_COMMAND": "ADD", "CNI_IFNAME": "../eth0"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV,
     "contains /"),
    ({**ENV, "CNI_COMMAND": "ADD", "CNI_IFNAME": "eth0123456789abc"}, {"cniVersion": "1.0.0", "name": "n"},
     spec.INVALID_ENV, "too long"),
    ({**ENV, "CNI_COMMAND": "ADD", "CNI_ARGS": "IP"}, {"cniVersion": "1.0.0", "name": "n"}, spec.INVALID_ENV, "KEY=VALUE"),
])
def test_spec_errors(tmp_path, env, conf, code, needle):
    if isinstance(conf, dict):  # an IPAM section that would allocate into tmp_path, were the call accepted
        conf = {**conf, "ipam": {"type": PROG, "dataDir": str(tmp_path), "ranges": [[{"subnet": "10.9.0.0/29"}]]}}
    got, err = run(env, conf)
    assert got == 1 and err["code"] == code and needle in err["msg"], err
    assert spec.error_problems(err) == []
    assert not os.listdir(tmp_path)


def test_bad_ipam_config_is_invalid_config_and_changes_nothing(tmp_path):
    conf = ipam_conf(tmp_path, ranges=[[{"subnet": "10.5.0.3/29"}]])
    code, err = run(ENV, conf, "ADD")
    assert code == 1 and err["code"] == spec.INVALID_CONFIG and "has host bits set" in err["msg"]
    assert err["details"] == "did you mean 10.5.0.0/29?"
    assert not os.listdir(tmp_path)


def test_corrupt_store_file_is_an_io_error(tmp_path):
    (tmp_path / "net5").mkdir()
    (tmp_path / "net5" / "10.5.0.2").write_bytes(b"")
    code, err = run(ENV, ipam_conf(tmp_path), "ADD")
    assert code == 1 and err["code"] == spec.IO_FAILURE and "10.5.0.2" in err["msg"]
    assert sorted(os.listdir(tmp_path / "net5")) == ["10.5.0.2", "lock"]


def test_a_delegated_ipam_result_is_checked(tmp_path):
    fake = tmp_path / "bin" / "fake-ipam"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '{\"cniVersion\": \"1.0.0\", \"ips\": [{\"gateway\": \"10.0.0.1\"}]}'\n")
    fake.chmod(0o755)
    conf = {"cniVersion": "1.0.0", "name": "n", "type": PROG, "bridge": "ktbr0", "ipam": {"type": "fake-ipam"}}
    code, err = run({**ENV, "CNI_PATH": str(fake.parent), "CNI_IFNAME": "ktq9nothere"}, conf, "ADD")
    assert code == 1 and err["code"] == spec.PLUGIN_FAILED, err
    assert "fake-ipam returned an invalid result: ips[0].address is missing" in err["msg"]


def test_a_delegated_plugin_that_cannot_run_is_a_plugin_failure(tmp_path):
    fake = tmp_path / "fake-ipam"
    fake.write_text("#!/nonexistent/interpreter\n")
    fake.chmod(0o755)
    conf = {"cniVersion": "1.0.0", "name": "n", "type": PROG, "bridge": "ktbr0", "ipam": {"type": "fake-ipam"}}
    code, err = run({**ENV, "CNI_PATH": str(tmp_path), "CNI_IFNAME": "ktq9nothere"}, conf, "DEL")
    assert code == 1 and err["code"] == spec.PLUGIN_FAILED and "cannot run" in err["msg"], err


def test_errors_carry_the_config_version(tmp_path):
    code, err = run({**ENV, "CNI_IFNAME": ""}, ipam_conf(tmp_path, "0.4.0"), "ADD")
    assert code == 1 and err["cniVersion"] == "0.4.0" and err["code"] == spec.INVALID_ENV


def _modules_after(command: str, conf: dict) -> set[str]:
    code = (
        "import io, json, os, sys\n"
        "from kubenetctl.cni import plugin\n"
        f"plugin.run({{**os.environ, 'CNI_COMMAND': {command!r}}}, json.dumps({conf!r}).encode(), io.StringIO())\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "CNI_CONTAINERID": "c1", "CNI_NETNS": "/proc/self/ns/net", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_plugin_never_imports_the_cli_stack_and_ipam_mode_skips_pyroute2(tmp_path):
    for command in ("VERSION", "ADD", "DEL"):
        mods = _modules_after(command, ipam_conf(tmp_path))
        assert not {"typer", "rich", "yaml", "click"} & {m.split(".")[0] for m in mods}, command
        assert not any(m.startswith("pyroute2") for m in mods), command

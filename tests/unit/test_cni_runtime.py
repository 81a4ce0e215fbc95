"""The runtime driver without root: config loading, result/error validation with fake
plugins, prevResult chaining, rollback, the libcni result cache; spec conversions."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from kubenetctl.cni import runtime, spec
from kubenetctl.errors import Conflict, ExitCode, InvalidInput, NotFound
from tests.cni_helpers import cni_bin

GOOD = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "mac": "0a:58:0a:00:00:05", "sandbox": "/x"}],
        "ips": [{"address": "10.0.0.5/24", "gateway": "10.0.0.1", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}


def fake_plugin(d: Path, name: str, body: str) -> None:
    """A plugin as a small Python script; it logs what it received to <d>/<name>.log."""
    path = d / name
    path.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "conf = json.loads(sys.stdin.read() or 'null')\n"
        f"log = open({str(d / (name + '.log'))!r}, 'a')\n"
        "log.write(json.dumps({'cmd': os.environ['CNI_COMMAND'], 'conf': conf, 'args': os.environ.get('CNI_ARGS')}) + '\\n')\n"
        + body + "\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def calls(d: Path, name: str) -> list[dict]:
    p = d / f"{name}.log"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def conflist(d: Path, name: str, plugins: list[dict], version: str = "1.0.0", fname: str | None = None) -> Path:
    p = d / (fname or f"10-{name}.conflist")
    p.write_text(json.dumps({"cniVersion": version, "name": name, "plugins": plugins}))
    return p


@pytest.fixture
def env(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "net.d").mkdir()
    return tmp_path


def driver(env):
    return runtime.Driver([str(env / "bin")], str(env / "cache"))


ATT = runtime.Attachment("c1", "/proc/self/ns/net", "eth0", [("K8S_POD_NAME", "p")], {"portMappings": [{"hostPort": 1}]})


def test_load_prefers_conflist_and_converts_single_conf(env):
    nd = env / "net.d"
    (nd / "05-a.conf").write_text(json.dumps({"cniVersion": "0.4.0", "name": "a", "type": "x"}))
    conflist(nd, "a", [{"type": "y"}], fname="20-a.conflist")
    assert [p["type"] for p in runtime.load("a", str(nd)).plugins] == ["y"]
    (nd / "06-b.conf").write_text(json.dumps({"cniVersion": "0.4.0", "name": "b", "type": "x"}))
    nl = runtime.load("b", str(nd))
    assert nl.plugins == [{"cniVersion": "0.4.0", "name": "b", "type": "x"}] and nl.cni_version == "0.4.0"
    assert json.loads(nl.raw)["plugins"][0]["type"] == "x"


def test_load_errors_say_where(env):
    nd = env / "net.d"
    conflist(nd, "a", [{"type": "y"}])
    with pytest.raises(NotFound) as err:
        runtime.load("zzz", str(nd))
    assert "no network named 'zzz'" in str(err.value) and "networks there: a" in err.value.hint
    bad = nd / "bad.conflist"
    bad.write_text('{"name": "bad",\n "plugins": [}')
    with pytest.raises(InvalidInput, match=r"bad.conflist, line 2, column 14: invalid JSON"):
        runtime.load(str(bad))
    bad.write_text(json.dumps({"cniVersion": "1.0.0", "name": "b", "plugins": [{"foo": 1}]}))
    with pytest.raises(InvalidInput, match=r"plugins\[0\].type is missing"):
        runtime.load(str(bad))
    bad.write_text(json.dumps({"cniVersion": "2.0.0", "name": "b", "plugins": [{"type": "x"}]}))
    with pytest.raises(InvalidInput, match="cniVersion '2.0.0' is not one of"):
        runtime.load(str(bad))


def test_add_chains_prev_result_caches_and_del_runs_in_reverse(env):
    fake_plugin(env / "bin", "one", f"print(json.dumps({GOOD!r}))")
    fake_plugin(env / "bin", "two", "print(json.dumps(conf.get('prevResult') or {}))")
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "one", "capabilities": {"portMappings": True}},
                                                         {"type": "two"}])))
    d = driver(env)
    report = d.add(nl, ATT)
    assert report.result == GOOD
    first, second = calls(env / "bin", "one")[0], calls(env / "bin", "two")[0]
    assert "prevResult" not in first["conf"] and second["conf"]["prevResult"] == GOOD
    assert first["conf"]["runtimeConfig"] == {"portMappings": [{"hostPort": 1}]}  # declared capability only
    assert "runtimeConfig" not in second["conf"]
    assert first["args"] == "K8S_POD_NAME=p" and first["conf"]["name"] == "n"
    cache = json.loads((env / "cache" / "results" / "n-c1-eth0").read_text())
    assert cache["kind"] == "cniCacheV1" and cache["result"] == GOOD and cache["netns"] == "/proc/self/ns/net"
    assert json.loads(base64.b64decode(cache["config"]))["name"] == "n"
    assert cache["cniArgs"] == [["K8S_POD_NAME", "p"]]
    with pytest.raises(Conflict, match="already exists"):
        d.add(nl, ATT)
    d.delete(nl, ATT)
    dels = [c for name in ("one", "two") for c in calls(env / "bin", name) if c["cmd"] == "DEL"]
    assert [c["conf"]["prevResult"] for c in dels] == [GOOD, GOOD]
    order = [json.loads(line)["cmd"] for line in (env / "bin" / "two.log").read_text().splitlines()]
    assert order == ["ADD", "DEL"]
    assert not (env / "cache" / "results" / "n-c1-eth0").exists()


@pytest.mark.parametrize("result,needle", [
    ({**GOOD, "cniVersion": "0.4.0"}, "cniVersion is '0.4.0' but the configuration asked for '1.0.0'"),
    ({**GOOD, "ips": [{"address": "10.0.0.5", "interface": 0}]}, "ips[0].address '10.0.0.5' is not an address with a prefix"),
    ({**GOOD, "ips": [{"address": "10.0.0.5/24", "interface": 3}]}, "ips[0].interface is 3 but the result has 1 interface(s)"),
    ({**GOOD, "ips": [{"address": "10.0.0.5/24", "version": "4"}]}, "ips[0].version is not part of CNI 1.0.0"),
    ({**GOOD, "routes": [{"gw": "10.0.0.1"}]}, "routes[0].dst is missing"),
    ({**GOOD, "dns": {"nameservers": "8.8.8.8"}}, "dns.nameservers must be a list of strings"),
    ({**GOOD, "interfaces": [{"name": "eth0", "mac": "xyz"}]}, "interfaces[0].mac 'xyz' is not a hardware address"),
])
def test_invalid_results_are_explained_and_rolled_back(env, result, needle):
    fake_plugin(env / "bin", "bad", f"print(json.dumps({result!r}))")
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "bad"}])))
    with pytest.raises(runtime.PluginFailed) as err:
        driver(env).add(nl, ATT)
    assert "plugin bad (ADD) returned an invalid CNI 1.0.0 result" in str(err.value) and needle in str(err.value)
    assert "rolled back: DEL ran on bad" in err.value.hint
    assert [c["cmd"] for c in calls(env / "bin", "bad")] == ["ADD", "DEL"]
    assert not (env / "cache" / "results").exists()


@pytest.mark.parametrize("body,needle", [
    ("print(json.dumps({'cniVersion': '1.0.0', 'code': 7, 'msg': 'bad config', 'details': 'field x'})); sys.exit(1)",
     "plugin bad failed (ADD): bad config: field x [code 7: invalid network config]"),
    ("print(json.dumps({'code': 'seven', 'msg': 'x'})); sys.exit(1)", "invalid error object: code 'seven' is not an integer"),
    ("print(json.dumps({'code': 42, 'msg': 'x'})); sys.exit(1)", "code 42 is not defined by the spec"),
    ("sys.stderr.write('panic: oops'); sys.exit(2)", "exit 2 and printed nothing on stdout"),
    ("print('oops'); sys.exit(1)", "printed something that is not JSON: 'oops'"),
])
def test_plugin_errors_are_explained(env, body, needle):
    fake_plugin(env / "bin", "bad", body)
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "bad"}])))
    with pytest.raises(runtime.PluginFailed) as err:
        driver(env).add(nl, ATT, rollback=False)
    assert needle in str(err.value)


@pytest.mark.parametrize("code,exit_code,two_calls,hint", [
    # a failure midway: every plugin that ran gets its DEL, in reverse (two's fails as well)
    (11, ExitCode.BUSY, ["ADD", "DEL"], "rollback DEL failed too: plugin two failed (DEL)"),
    # it refused its config: it made nothing, and its DEL would fail alike
    (7, ExitCode.USAGE, ["ADD"], "rolled back: DEL ran on one"),
])
def test_failure_midway_rolls_back_in_reverse(env, code, exit_code, two_calls, hint):
    fake_plugin(env / "bin", "one", f"print(json.dumps({GOOD!r}))")
    fake_plugin(env / "bin", "two", f"print(json.dumps({{'code': {code}, 'msg': 'no'}})); sys.exit(1)")
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "one"}, {"type": "two"}])))
    with pytest.raises(runtime.PluginFailed) as err:
        driver(env).add(nl, ATT)
    assert err.value.exit_code == exit_code and hint in err.value.hint
    assert [c["cmd"] for c in calls(env / "bin", "one")] == ["ADD", "DEL"]
    assert calls(env / "bin", "one")[1]["conf"]["prevResult"] == GOOD
    assert [c["cmd"] for c in calls(env / "bin", "two")] == two_calls


def test_cni_versions_picks_the_highest_version_both_sides_speak(env):
    p = env / "net.d" / "v.conflist"
    p.write_text(json.dumps({"cniVersion": "0.4.0", "cniVersions": ["0.4.0", "1.0.0", "9.9.9"], "name": "v",
                             "plugins": [{"type": "x"}]}))
    assert runtime.load(str(p)).cni_version == "1.0.0"
    p.write_text(json.dumps({"cniVersions": ["9.9.9"], "name": "v", "plugins": [{"type": "x"}]}))
    with pytest.raises(InvalidInput, match="cniVersions \\['9.9.9'\\] names no version kubenetctl speaks"):
        runtime.load(str(p))


def test_missing_plugin_and_check_without_cache(env):
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "ghost"}])))
    with pytest.raises(NotFound, match="plugin 'ghost' is not in CNI_PATH"):
        driver(env).add(nl, ATT)
    with pytest.raises(NotFound, match="no cached ADD result"):
        driver(env).check(nl, ATT)
    old = runtime.load(str(conflist(env / "net.d", "o", [{"type": "ghost"}], version="0.3.1")))
    with pytest.raises(InvalidInput, match="CHECK needs 0.4.0"):
        driver(env).check(old, ATT)
    assert "predates STATUS" in driver(env).status(nl).extra["note"]


@pytest.mark.parametrize("bad", [runtime.Attachment("../x", "/n"), runtime.Attachment("c1", "/n", "a/b")])
def test_cache_paths_cannot_escape(env, bad):
    with pytest.raises(InvalidInput):
        driver(env).cache_path("n", bad)


def test_gc_passes_valid_attachments_and_drops_stale_cache(env):
    fake_plugin(env / "bin", "one", f"print(json.dumps({{**{GOOD!r}, 'cniVersion': '1.1.0'}}) if os.environ['CNI_COMMAND'] == 'ADD' else '')")
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "one"}], version="1.1.0")))
    d = driver(env)
    d.add(nl, ATT)
    d.add(nl, runtime.Attachment("c2", "/nonexistent/netns", "eth0"))
    report = d.gc(nl)
    assert report.extra["validAttachments"] == [{"containerID": "c1", "ifname": "eth0"}]
    assert report.extra["staleCacheEntries"] == ["n-c2-eth0"]
    gc_call = [c for c in calls(env / "bin", "one") if c["cmd"] == "GC"][0]
    assert gc_call["conf"]["cni.dev/valid-attachments"] == [{"containerID": "c1", "ifname": "eth0"}]
    assert os.listdir(env / "cache" / "results") == ["n-c1-eth0"]


def test_version_probe_with_our_plugin(env, tmp_path):
    bindir = cni_bin(tmp_path)
    nl = runtime.load(str(conflist(env / "net.d", "n", [{"type": "kubenetctl-cni"}], version="1.1.0")))
    rows = runtime.Driver([bindir], str(env / "cache")).versions(nl).extra["plugins"]
    assert rows[0]["supportedVersions"] == list(spec.SUPPORTED_VERSIONS) and rows[0]["supportsList"]


def test_encode_decode_round_trip_across_versions():
    internal = spec.decode_result({**GOOD, "ips": [*GOOD["ips"], {"address": "fd00::5/64", "gateway": "fd00::1", "interface": 0}]})
    for version in spec.SUPPORTED_VERSIONS:
        encoded = spec.encode_result(internal, version)
        assert spec.result_problems(encoded, version) == [], version
        back = spec.decode_result(encoded)
        assert [ip["address"] for ip in back["ips"]] == ["10.0.0.5/24", "fd00::5/64"]

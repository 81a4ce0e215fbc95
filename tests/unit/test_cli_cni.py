"""kubenetctl cni without root: bad input is one line with the documented exit code; the
lean launcher installs, answers VERSION, and does not overwrite foreign files."""

import json
import subprocess

import pytest

from tests.helpers import kn_inprocess as kn


@pytest.fixture
def netd(tmp_path):
    d = tmp_path / "netd"
    d.mkdir()
    (d / "10-a.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": "ghost"}]}))
    return d


@pytest.mark.parametrize("args,code,needle", [
    (["cni", "add", "zzz", "/proc/self/ns/net"], 3, "no network named 'zzz'"),
    (["cni", "add", "a", "kt-no-such-netns"], 3, "network namespace kt-no-such-netns does not exist"),
    (["cni", "add", "a", "/proc/self/ns/net", "--args", "novalue"], 2, "--args: 'novalue' is not KEY=VALUE"),
    (["cni", "add", "a", "/proc/self/ns/net", "--cap-args", "[1"], 2, "--cap-args: invalid JSON"),
    (["cni", "add", "a", "/proc/self/ns/net"], 3, "plugin 'ghost' is not in CNI_PATH"),
    (["cni", "add", "a", "/proc/self/ns/net", "--container-id", "../x"], 2, "container id '../x'"),
    (["cni", "check", "a", "/proc/self/ns/net"], 3, "no cached ADD result"),
])
def test_bad_input_is_one_line(netd, tmp_path, args, code, needle):
    r = kn(*args, "--netconfpath", str(netd), "--cni-path", str(tmp_path / "bin"), "--cache-dir", str(tmp_path / "cache"))
    assert r.code == code and needle in r.stderr and r.stdout == "", r
    assert r.stderr.startswith("kubenetctl: error: ") and "Traceback" not in r.stderr
    assert not (tmp_path / "cache").exists()


def test_install_writes_a_lean_launcher(tmp_path):
    r = kn("-o", "json", "cni", "install", str(tmp_path / "bin"))
    assert r.code == 0, r
    path = r.json()["path"]
    text = open(path).read()
    assert text.splitlines()[0].endswith(" -IS") and "from kubenetctl.cni.plugin import main" in text
    out = subprocess.run([path], input=b'{"cniVersion": "0.4.0"}', capture_output=True, env={"CNI_COMMAND": "VERSION"})
    assert json.loads(out.stdout)["cniVersion"] == "0.4.0"
    assert kn("cni", "install", str(tmp_path / "bin")).code == 0  # its own launcher: replaced
    (tmp_path / "bin" / "other").write_text("#!/bin/sh\n")
    r = kn("cni", "install", str(tmp_path / "bin"), "--name", "other")
    assert r.code == 4 and "not a kubenetctl-cni launcher" in r.stderr
    assert open(tmp_path / "bin" / "other").read() == "#!/bin/sh\n"
    assert kn("cni", "install", str(tmp_path / "bin"), "--name", "other", "--force").code == 0

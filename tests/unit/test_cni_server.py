"""`kubenetctl cni serve` and the lean launcher's client, without root.

The plugin's IPAM mode needs no kernel, so real calls run through a real server process
(on a socket of its own, stopped at the end of each test) and are compared with the same
calls run in process (KUBENETCTL_CNI_NO_SERVER=1). The server counts the calls it served
("stopped after N calls"), so a silent fallback cannot pass for the server path.
"""

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager

import pytest

from kubenetctl import __version__
from kubenetctl.cni import client, spec
from tests.cni_helpers import CniServer, call, kubenetctl_exe, lean_launcher, running_server, store_files
from tests.helpers import kn_process, wait_for

IN_PROCESS = {"KUBENETCTL_CNI_NO_SERVER": "1"}
ENV = {"CNI_NETNS": "/proc/self/ns/net", "CNI_PATH": "/nowhere"}


def ipam_conf(data_dir, version="1.1.0", ipam_type="kubenetctl-cni"):
    return {"cniVersion": version, "name": "net5", "type": "bridge",
            "ipam": {"type": ipam_type, "dataDir": str(data_dir), "ranges": [[{"subnet": "10.5.0.0/28"}]],
                     "routes": [{"dst": "0.0.0.0/0"}]}}


@contextmanager
def store_locked(data_dir, network="net5"):
    """Hold host-local's flock on the network's store, so that a plugin call waits."""
    d = data_dir / network
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def waiting_add(server, launcher, data):
    """An ADD through the server, started while the test holds the store's lock: it waits
    in the server's child. The caller's process, its stdout a pipe."""
    env = {**os.environ, **ENV, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0"}
    proc = subprocess.Popen([launcher], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    proc.stdin.write(json.dumps(ipam_conf(data)).encode())
    proc.stdin.close()
    wait_for(lambda: len(server.children()) == 1, "the server's child")
    return proc


@pytest.fixture
def server(tmp_path):
    with running_server(tmp_path) as s:
        yield s


# -- the protocol ------------------------------------------------------------------------------
def test_request_round_trips():
    env = [b"CNI_COMMAND=ADD", b"CNI_ARGS=IP=10.0.0.5;K=a=b", b"EMPTY="]
    req = client.decode(client.encode("0.1.0", 42, 0o027, [b"/opt/cni/bin/kn", b"x"], env))
    assert (req.version, req.pid, req.umask, req.argv) == ("0.1.0", 42, 0o027, [b"/opt/cni/bin/kn", b"x"])
    assert req.environ == {b"CNI_COMMAND": b"ADD", b"CNI_ARGS": b"IP=10.0.0.5;K=a=b", b"EMPTY": b""}
    assert client.unpack_fds(client.pack_fds([0, 1, 2, 7, 1023, 65536])) == [0, 1, 2, 7, 1023, 65536]


@pytest.mark.parametrize("data,needle", [
    (b"", "not a kubenetctl-cni request"),
    (b"kncni/0\x000.1.0\x001\x0018\x001\x00a", "not a kubenetctl-cni request"),
    (b"kncni/1\x000.1.0\x00x\x0018\x001\x00a", "malformed request header"),
    (b"kncni/1\x000.1.0\x001\x0018\x003\x00a", "malformed request header"),  # argc beyond the fields
    (b"kncni/1\x000.1.0\x001\x001000\x001\x00a", "malformed request header"),  # umask out of range
    (b"kncni/1\x000.1.0\x001\x0018\x001\x00a\x00NOEQUALS", "malformed environment entry"),
])
def test_malformed_requests_are_rejected(data, needle):
    with pytest.raises(ValueError, match=needle):
        client.decode(data)


def test_nul_bytes_cannot_be_encoded():
    with pytest.raises(ValueError):
        client.encode("0.1.0", 1, 0o22, [b"a\0b"], [])


def test_socket_path_follows_the_environment(monkeypatch):
    import posix

    for key in (client.NO_SERVER_ENV, client.SOCKET_ENV):
        monkeypatch.delitem(posix.environ, key, raising=False)
    assert client.socket_path("/run/x.sock") == b"/run/x.sock"
    monkeypatch.setitem(posix.environ, client.SOCKET_ENV, b"/tmp/y.sock")
    assert client.socket_path("/run/x.sock") == b"/tmp/y.sock"
    monkeypatch.setitem(posix.environ, client.NO_SERVER_ENV, b"0")
    assert client.socket_path("/run/x.sock") == b"/tmp/y.sock"
    monkeypatch.setitem(posix.environ, client.NO_SERVER_ENV, b"1")
    assert client.socket_path("/run/x.sock") is None


def raw_request(path, message, fds):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(path)
        socket.send_fds(s, [message], fds)
        return s.recv(4096)


def test_the_server_refuses_what_it_cannot_serve(server):
    before = server.fds()
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        six = [null] * client.NFDS
        other = client.encode("0.0.0-other", os.getpid(), 0o22, [b"kubenetctl-cni"], [b"CNI_COMMAND=VERSION"])
        assert raw_request(server.socket, other, six).startswith(b"Rthe launcher is kubenetctl 0.0.0-other")
        ours = client.encode(__version__, os.getpid(), 0o22, [b"kubenetctl-cni"], [b"CNI_COMMAND=VERSION"])
        assert raw_request(server.socket, ours, [null] * 3) == b"Rexpected 6 descriptors"
        assert raw_request(server.socket, b"GET / HTTP/1.0", six) == b"Rnot a kubenetctl-cni request (protocol kncni/1)"
        elsewhere = client.encode(__version__, 1, 0o22, [b"kubenetctl-cni"], [b"CNI_COMMAND=VERSION"])
        assert raw_request(server.socket, elsewhere, six) == b"Rthe caller runs in another PID namespace"
    finally:
        os.close(null)
    wait_for(lambda: server.fds() == before, "the server to close what it was sent")
    assert server.served() == 0


# -- real calls: through the server and in process ------------------------------------------------
def test_calls_through_the_server_match_calls_in_process(server, tmp_path):
    launcher = lean_launcher(tmp_path, server.socket)
    outputs = {}
    for path, extra in (("server", {}), ("in-process", IN_PROCESS)):
        data = tmp_path / path / "data"
        conf = ipam_conf(data)

        def run(command, conf=conf, cid="c1", **kw):
            r = call(launcher, command, conf, container_id=cid, extra_env={**ENV, **extra}, **kw)
            return r.code, r.stdout.replace(str(data), "<data>"), r.stderr.replace(str(data), "<data>")

        steps = [run("VERSION", {"cniVersion": "0.4.0"}), run("ADD"), run("ADD", cid="c2", args="IP=10.5.0.9"),
                 run("ADD")]  # a duplicate attachment: refused
        prev = json.loads(steps[1][1])
        steps += [run("CHECK", {**conf, "prevResult": prev}), run("STATUS"),
                  run("GC", {**conf, "cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "eth0"}]}),
                  run("DEL", cid="c2"), run("DEL", cid="c2"), run("ADD", b"{not json"), run("ADD", ifname=None),
                  run("ADD", ipam_conf(data, version="9.9.9"))]
        outputs[path] = steps
        stores = {n: (data / "net5" / n).read_bytes() for n in store_files(data, "net5")}
        outputs[path].append(stores)
    server_steps, local_steps = outputs["server"], outputs["in-process"]
    assert [s[:2] for s in server_steps[:-1]] == [s[:2] for s in local_steps[:-1]]
    assert server_steps[-1] == local_steps[-1] and server_steps[-1]  # the same store, byte for byte
    codes = [s[0] for s in server_steps[:-1]]
    assert codes == [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1]
    assert json.loads(server_steps[2][1])["ips"][0]["address"] == "10.5.0.9/28"  # CNI_ARGS arrived
    for code, out, _err in (server_steps[3], *server_steps[-4:-1]):
        assert spec.error_problems(json.loads(out)) == []
    assert [json.loads(s[1])["code"] for s in server_steps[-4:-1]] == [spec.DECODE_FAILURE, spec.INVALID_ENV,
                                                                      spec.INCOMPATIBLE_VERSION]
    assert server.served() == len(codes)


def test_argv_umask_and_environment_reach_the_plugin(server, tmp_path):
    """The plugin's type is its file name (argv[0]); files it creates honour the caller's umask."""
    launcher = lean_launcher(tmp_path, server.socket, name="kn")
    for path, extra in (("server", {}), ("in-process", IN_PROCESS)):
        data = tmp_path / path
        env = {"PATH": os.environ["PATH"], "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0",
               **ENV, **extra}
        conf = json.dumps(ipam_conf(data, ipam_type="kn")).encode()
        proc = subprocess.run([launcher], input=conf, env=env, capture_output=True, preexec_fn=lambda: os.umask(0o077))
        assert proc.returncode == 0, proc
        assert json.loads(proc.stdout)["ips"] == [{"address": "10.5.0.2/28", "gateway": "10.5.0.1"}]
        assert oct((data / "net5" / "10.5.0.2").stat().st_mode & 0o777) == "0o600"
    assert server.served() == 1


def test_a_call_that_outlives_the_timeout_gets_spec_error_json(tmp_path):
    with running_server(tmp_path, timeout=1) as server:
        launcher = lean_launcher(tmp_path, server.socket)
        data = tmp_path / "data"
        with store_locked(data):
            r = call(launcher, "ADD", ipam_conf(data, version="0.4.0"), extra_env=ENV)
        assert r.code == 1, r
        err = r.json()
        assert spec.error_problems(err) == [] and err["code"] == spec.INTERNAL and err["cniVersion"] == "0.4.0"
        assert "timed out after 1 s" in err["msg"] and "kubenetctl cni serve --timeout" in err["msg"]
        assert store_files(data, "net5") == ["lock"]  # it was waiting for the lock: nothing allocated
        wait_for(lambda: "timed out after 1 s" in server.log_text(), "the server's log line")


def test_a_caller_that_goes_away_takes_its_call_with_it(server, tmp_path):
    launcher = lean_launcher(tmp_path, server.socket)
    data = tmp_path / "data"
    with store_locked(data):
        proc = waiting_add(server, launcher, data)
        proc.kill()  # as a runtime kills a plugin it gives up on
        proc.wait()
        proc.stdout.close()
        wait_for(lambda: server.children() == [], "the child to be killed and reaped")
        wait_for(lambda: "the caller went away" in server.log_text(), "the server's log line")
    assert store_files(data, "net5") == ["lock"]


def test_a_plugin_process_killed_by_a_signal_gets_spec_error_json(server, tmp_path):
    launcher = lean_launcher(tmp_path, server.socket)
    data = tmp_path / "data"
    with store_locked(data):
        proc = waiting_add(server, launcher, data)
        os.kill(server.children()[0], signal.SIGKILL)
        out = proc.stdout.read()
        proc.stdout.close()
        assert proc.wait(timeout=30) == 1
    err = json.loads(out)
    assert spec.error_problems(err) == [] and err["code"] == spec.INTERNAL and err["cniVersion"] == "1.1.0"
    assert err["msg"] == "kubenetctl-cni: the plugin process was killed by signal 9"
    assert server.served() == 1


def test_when_the_server_and_the_plugin_process_both_die_the_outcome_is_an_error(tmp_path):
    server = CniServer(tmp_path).start()
    try:
        launcher = lean_launcher(tmp_path, server.socket)
        data = tmp_path / "data"
        with store_locked(data):
            proc = waiting_add(server, launcher, data)
            child = server.children()[0]
            server.kill()
            os.kill(child, signal.SIGKILL)
            out = proc.stdout.read()
            proc.stdout.close()
            assert proc.wait(timeout=30) == 1
        assert out == client.LOST
        err = json.loads(out)
        assert spec.error_problems(err) == [] and err["cniVersion"] == spec.SPEC_VERSION
    finally:
        server.stop()


def test_no_children_or_descriptors_leak_across_many_calls(server, tmp_path):
    launcher = lean_launcher(tmp_path, server.socket)
    data = tmp_path / "data"
    conf = ipam_conf(data)
    before = server.fds()
    for i in range(15):
        for cmd, c in (("ADD", conf), ("DEL", conf), ("VERSION", conf), ("ADD", b"[")):
            r = call(launcher, cmd, c, container_id=f"c{i}", extra_env=ENV)
            assert r.code == (1 if c == b"[" else 0), r
    wait_for(lambda: server.children() == [], "every child to be reaped")
    assert server.fds() == before
    assert server.served() == 60


def test_a_killed_server_means_calls_run_in_process_until_one_is_back(tmp_path):
    data = tmp_path / "data"
    first = CniServer(tmp_path).start()
    try:
        launcher = lean_launcher(tmp_path, first.socket)
        assert call(launcher, "ADD", ipam_conf(data), container_id="c1", extra_env=ENV).code == 0
        first.kill()
        assert os.path.exists(first.socket)  # stale: nobody listens
        r = call(launcher, "ADD", ipam_conf(data), container_id="c2", extra_env=ENV)
        assert r.code == 0 and r.json()["ips"][0]["address"] == "10.5.0.3/28", r
        assert r.stderr == ""  # no server is the normal case: nothing to say
        with running_server(tmp_path, socket=first.socket) as second:  # takes over the stale socket
            r = call(launcher, "DEL", ipam_conf(data), container_id="c1", extra_env=ENV)
            assert r.code == 0, r
            assert second.served() == 1
        assert store_files(data, "net5") == ["10.5.0.3", "last_reserved_ip.0", "lock"]
    finally:
        first.stop()


def test_one_socket_one_server(server, tmp_path):
    proc = subprocess.run([kubenetctl_exe(), "cni", "serve", "--socket", server.socket],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 8, proc
    assert proc.stderr.startswith(f"kubenetctl: error: another kubenetctl cni server is serving {server.socket}")
    assert "Traceback" not in proc.stderr
    assert os.stat(server.socket).st_mode & 0o777 == 0o600


def test_stopping_finishes_the_calls_in_progress(server, tmp_path):
    launcher = lean_launcher(tmp_path, server.socket)
    data = tmp_path / "data"
    with store_locked(data):
        proc = waiting_add(server, launcher, data)
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: not os.path.exists(server.socket), "the socket to go")
        r = call(launcher, "VERSION", {"cniVersion": "1.0.0"})  # meanwhile: in process
        assert r.code == 0 and "1.0.0" in r.json()["supportedVersions"]
        assert server.proc.poll() is None  # still waiting for its call
    out = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=30) == 0 and json.loads(out)["ips"][0]["address"] == "10.5.0.2/28"
    assert server.served(stopping=True) == 1
    assert "waiting for 1 running" in server.log_text()


def test_the_launcher_loads_almost_nothing_when_the_server_answers(server, tmp_path):
    launcher = lean_launcher(tmp_path, server.socket)
    python = open(launcher).readline()[2:].split()[0]

    def imported(*args):
        proc = subprocess.run([python, "-I", "-S", "-X", "importtime", *args], input=b'{"cniVersion": "1.0.0"}',
                              capture_output=True, env={"CNI_COMMAND": "VERSION"})
        assert proc.returncode == 0, proc
        return {line.split("|")[-1].strip() for line in proc.stderr.decode().splitlines() if line.startswith("import time:")}

    extra = imported(launcher) - imported("-c", "pass")
    assert extra == {"kubenetctl", "kubenetctl.cni", "kubenetctl.cni.client", "_socket"}
    assert server.served() == 1


def test_modules_the_server_preloads_read_no_environment_at_import():
    """The server imports them once for callers whose environments differ: module-level
    reads of os.environ would give every caller the server's values."""
    import ast

    probe = ("import json, sys\nfrom kubenetctl.cni import server\nserver.preload()\n"
             "print(json.dumps({m: sys.modules[m].__file__ for m in sys.modules if m.startswith('kubenetctl')}))")
    files = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert "kubenetctl.cni.bridge" in files and "kubenetctl.netlink.backend" in files

    def at_import(body):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.ClassDef):
                yield from at_import(node.body)
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Lambda):
                    continue
                if isinstance(sub, ast.Attribute) and sub.attr in ("environ", "environb", "getenv"):
                    yield sub.lineno

    found = {m: lines for m, path in files.items()
             if (lines := list(at_import(ast.parse(open(path).read()).body)))}
    assert found == {}


@pytest.mark.parametrize("replies,code,stdout,stderr", [
    ([b"Rtest refusal"], 0, "supportedVersions", "refused the call (test refusal); running in process"),
    ([], 0, "supportedVersions", ""),  # the connection ends before anything started: run in process
    ([b"S", b"X7"], 7, "", ""),
    ([b"S"], 1, "went away before reporting", ""),  # started, then nothing: never run twice
    ([b"S", b'E{"code": 999}\n'], 1, '{"code": 999}', ""),
])
def test_the_launcher_follows_what_the_server_says(tmp_path, replies, code, stdout, stderr):
    """A stand-in server answering one call: the launcher's side of the protocol."""
    import threading

    path = str(tmp_path / "fake.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(1)
    got = {}

    def serve_one():
        conn, _ = listener.accept()
        with conn:
            msg, fds, _flags, _addr = socket.recv_fds(conn, client.MAX_MESSAGE, client.NFDS)
            got["request"], got["fds"] = client.decode(msg), len(fds)
            for fd in fds:
                os.close(fd)
            for reply in replies:
                conn.send(reply)

    thread = threading.Thread(target=serve_one)
    thread.start()
    try:
        launcher = lean_launcher(tmp_path, path)
        env = {"CNI_COMMAND": "VERSION", "CNI_ARGS": "A=1"}
        proc = subprocess.run([launcher], input=b'{"cniVersion": "1.0.0"}', env=env, capture_output=True, timeout=60)
    finally:
        thread.join(timeout=10)
        listener.close()
    assert proc.returncode == code and (stdout in proc.stdout.decode() if stdout else proc.stdout == b""), proc
    assert stderr in proc.stderr.decode() and (stderr or proc.stderr == b""), proc
    assert got["fds"] == client.NFDS and got["request"].environ[b"CNI_ARGS"] == b"A=1"
    assert got["request"].argv == [launcher.encode()] and got["request"].pid > 0


@pytest.mark.parametrize("args,code,needle", [
    (["--timeout", "-1"], 2, "--timeout -1: must be 0 (none) or more seconds"),
    (["--socket", "/tmp/" + "x" * 120], 2, "a unix socket path is at most 107 bytes"),
    (["--socket", "{tmp}/file"], 4, "{tmp}/file exists and is not a socket"),
])
def test_bad_serve_arguments_are_one_line(tmp_path, args, code, needle):
    from tests.helpers import CliResult, one_error_line

    (tmp_path / "file").write_text("not a socket")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([kubenetctl_exe(), "cni", "serve", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc
    assert needle.replace("{tmp}", str(tmp_path)) in one_error_line(CliResult(proc.returncode, proc.stdout, proc.stderr))
    assert (tmp_path / "file").read_text() == "not a socket" and sorted(os.listdir(tmp_path)) == ["file"]


def test_a_clean_stop_leaves_no_socket_and_no_lock_file(tmp_path):
    server = CniServer(tmp_path).start()
    sock_dir = server.dir
    try:
        assert sorted(os.listdir(sock_dir)) == ["cni.sock", "cni.sock.lock"]
        server.proc.terminate()
        assert server.proc.wait(timeout=60) == 0
        assert os.listdir(sock_dir) == []
    finally:
        server.stop()


def test_a_socket_in_a_missing_directory_creates_nothing(tmp_path):
    missing = tmp_path / "no" / "such"
    result = kn_process("cni", "serve", "--socket", str(missing / "x.sock"))
    assert result.code == 3 and "does not exist" in result.stderr
    assert not (tmp_path / "no").exists()

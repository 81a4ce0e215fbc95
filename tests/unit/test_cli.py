"""The CLI without root: help, usage errors, exit codes, output shapes, start-up cost."""

import json
import subprocess
import sys

import pytest

from kubenetctl.errors import EXIT_CODE_DOCS, ExitCode
from tests.helpers import kn_inprocess as kn
from tests.helpers import one_error_line


def test_help_lists_every_primitive():
    result = kn("--help")
    assert result.code == 0
    for group in ("ns", "veth", "bridge", "vlan", "vxlan", "addr", "route", "link", "fdb", "neigh", "sysctl"):
        assert group in result.stdout


def test_version():
    assert kn("--version").stdout.startswith("kubenetctl ")


@pytest.mark.parametrize("args,needle", [
    (["veth", "add", "a" * 16, "--peer", "b"], "is 16 bytes, the kernel allows 15"),
    (["veth", "add", "a", "--peer", "b", "--mtu", "20"], "--mtu: MTU 20 is out of range 68..65535"),
    (["veth", "add", "a", "--peer", "b", "--peer-addr", "10.0.0.300/24"], "--peer-addr: '10.0.0.300/24' is not an address"),
    (["veth", "add", "a", "--peer", "b", "--mac", "zz:zz"], "--mac: 'zz:zz' is not a MAC address"),
    (["vlan", "add", "v", "--parent", "eth0", "--id", "4095"], "--id: VLAN id 4095 is out of range 1..4094"),
    (["vxlan", "add", "vx", "--vni", "16777216"], "--vni: VNI 16777216 is out of range 1..16777215"),
    (["vxlan", "add", "vx", "--vni", "1", "--port", "70000"], "--port: port 70000 is out of range 1..65535"),
    (["route", "add", "10.1.2.3/24", "--via", "10.0.0.1"], "DST: '10.1.2.3/24' has host bits set"),
    (["vxlan", "peer", "add", "vx", "--remote", "10.0.0.2", "--mac", "aa:bb:cc:dd:ee:01"], "--mac and --pod-cidr go together"),
    (["veth", "add", "a", "--peer", "a"], "both ends are named a in the same namespace"),
    (["route", "add", "10.1.0.0/16", "--via", "10.0.0.1", "--metric", "-1"], "--metric: metric -1 is out of range 0..4294967295"),
    (["route", "add", "10.1.0.0/16", "--via", "10.0.0.1", "--table", "255"], "--table: 255 is not a usable table id"),
    (["route", "add", "10.1.0.0/16"], "a route needs --via, --dev or both"),
    (["route", "add", "10.1.0.0/16", "--via", "10.0.0.1", "--onlink"], "--onlink needs --dev"),
    (["veth", "add", "a"], "Missing option '--peer'"),
    (["vxlan", "add", "vx", "--vni", "abc"], "Invalid value for '--vni'"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    result = kn(*args)
    assert result.code == ExitCode.USAGE, result
    assert needle in one_error_line(result)
    assert result.stdout == ""


def test_not_root_is_refused_before_touching_anything(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    result = kn("ns", "add", "x")
    assert result.code == ExitCode.PERMISSION
    assert "ns add needs root" in one_error_line(result)


@pytest.mark.parametrize("args,needle", [
    (["--proto", "tcp"], "--port: TCP needs a destination port"),
    (["--port", "80"], "--port: ICMP has no ports"),
])
def test_trace_checks_proto_and_port_before_reading_anything(tmp_path, monkeypatch, args, needle):
    def read(*_: object) -> None:
        raise AssertionError("trace read the kernel before checking its options")

    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("kubenetctl.inspect.gather.gather_trace", read)
    result = kn("trace", "web", "db", *args)
    assert result.code == ExitCode.USAGE, result
    assert needle in one_error_line(result)


@pytest.mark.parametrize("args,code,needle", [
    (["--graph", "dot", "-O", "{tmp}/no/such/dir/x.dot"], ExitCode.NOT_FOUND, "the directory {tmp}/no/such/dir does not exist"),
    (["--graph", "mermaid", "-O", "{tmp}"], ExitCode.USAGE, "-O {tmp}: is a directory"),
    (["--graph", "svg", "-O", "{tmp}"], ExitCode.USAGE, "-O {tmp}: is a directory"),
    (["--graph", "png", "-O", "{tmp}/x.png", "--no-dot"], ExitCode.NOT_FOUND, "needs Graphviz's 'dot'"),
    (["--graph", "dot", "--json"], ExitCode.USAGE, "--graph and -o json/yaml exclude each other"),
])
def test_inspect_graph_output_is_checked_before_reading_anything(tmp_path, monkeypatch, args, code, needle):
    def read(*_: object) -> None:
        raise AssertionError("inspect read the kernel before checking its options")

    dot = None if "--no-dot" in args else "/usr/bin/dot"
    monkeypatch.setattr("kubenetctl.inspect.gather.gather", read)
    monkeypatch.setattr("shutil.which", lambda name: dot)
    out = ["-o", "json"] if "--json" in args else []
    result = kn(*out, "inspect", *[a.replace("{tmp}", str(tmp_path)) for a in args if a not in ("--no-dot", "--json")])
    assert result.code == code, result
    assert needle.replace("{tmp}", str(tmp_path)) in one_error_line(result)


def test_exit_codes_are_documented_in_help():
    text = kn("--help").stdout
    for code in EXIT_CODE_DOCS:
        assert f"{int(code)} {code.name.lower()}" in text


def test_list_json_envelope(tmp_path, monkeypatch):
    monkeypatch.setattr("kubenetctl.netlink.nsfs.NETNS_RUN_DIR", str(tmp_path))
    result = kn("-o", "json", "ns", "list")
    assert result.code == 0
    assert json.loads(result.stdout) == {"apiVersion": "kubenetctl/v1", "kind": "NamespaceList", "items": []}


def _imports_after(args: list[str]) -> set[str]:
    """pyroute2 modules whose code ran while the CLI handled `args` (the lean stand-in for
    the top-level package, which loads nothing, does not count)."""
    code = (
        "import sys\n"
        "from kubenetctl.cli.main import app\n"
        "import typer\n"
        "try:\n"
        f"    typer.main.get_command(app).main(args={args!r}, prog_name='kubenetctl', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "top = sys.modules.get('pyroute2')\n"
        "loaded = [m for m in sys.modules if m.startswith('pyroute2.')]\n"
        "if top is not None and not getattr(top, '__kubenetctl_lean__', False):\n"
        "    loaded.append('pyroute2')\n"
        "sys.stderr.write(' '.join(sorted(loaded)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return set(proc.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["ns", "list"], ["veth", "add", "--help"], ["completion", "bash"]])
def test_startup_paths_do_not_import_pyroute2(args):
    assert _imports_after(args) == set()


def test_a_kernel_command_loads_pyroute2_lean():
    """The check above can fail: a command that reads the kernel does load pyroute2 modules,
    but not pyroute2's __init__ (which imports every subsystem)."""
    loaded = _imports_after(["link", "list"])  # a link dump of this namespace: no root needed
    assert "pyroute2.iproute.linux" in loaded
    assert "pyroute2" not in loaded and not any(m.startswith(("pyroute2.ndb", "pyroute2.ipdb")) for m in loaded)


def test_no_command_offers_typer_dynamic_completion():
    """--install-completion would edit ~/.bashrc and start Python on every TAB; the shipped
    static scripts are the completion."""
    import typer

    from kubenetctl.cli.completion import walk
    from kubenetctl.cli.main import app

    offered = [(node.path, name) for node in walk(typer.main.get_command(app)) for opt in node.options
               for name in opt.names if name in ("--install-completion", "--show-completion")]
    assert offered == []

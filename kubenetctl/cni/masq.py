"""Masquerade (ipMasq) and port mappings for one attachment, scoped so DEL removes exactly them.

nftables (default when `nft` is installed): one table per attachment,
`inet kncni_<net hash>_<attachment hash>`, commented "kubenetctl-cni net=.. id=.. if=..",
holding the postrouting masquerade rules and the DNAT rules of runtimeConfig.portMappings.
Deleting the table removes all of it in one atomic step; GC finds the tables of a network
by the name prefix and reads the attachment from the comment.

iptables: the reference plugin's layout: a chain KN-<hash> in the nat table, jumped to
from POSTROUTING by a rule carrying the same comment ("-d subnet ACCEPT", then
"! -d multicast MASQUERADE"); port mappings need the nftables backend.

Both tools are run with argument lists (no shell).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
from typing import Iterable, Sequence

from kubenetctl.cni import spec
from kubenetctl.cni.netconf import PortMapping
from kubenetctl.cni.spec import CniError

TABLE_PREFIX = "kncni_"
CHAIN_PREFIX = "KN-"
COMMENT_PREFIX = "kubenetctl-cni"
_COMMENT_RE = re.compile(r'comment "kubenetctl-cni net=(\S+) id=(\S+) if=(\S+)"')


def _hash(*parts: str, n: int) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:n]


def table_name(net: str, cid: str, ifname: str) -> str:
    return f"{TABLE_PREFIX}{_hash(net, n=8)}_{_hash(net, cid, ifname, n=16)}"


def chain_name(net: str, cid: str, ifname: str) -> str:
    return CHAIN_PREFIX + _hash(net, cid, ifname, n=20)


def comment(net: str, cid: str, ifname: str) -> str:
    return f"{COMMENT_PREFIX} net={net} id={cid} if={ifname}"


def tool(name: str) -> str | None:
    # PATH is read at each call, not at import: `kubenetctl cni serve` imports this once for many callers
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
    return shutil.which(name, path=search)


def backend(wanted: str | None, ports: Sequence[PortMapping] = ()) -> str:
    """The backend to use, refused before anything is built if it cannot do the job."""
    if wanted is not None:
        if tool("nft" if wanted == "nftables" else "iptables") is None:
            raise CniError(spec.UNSUPPORTED_FIELD, f"ipMasqBackend {wanted}: the {wanted} tool is not installed")
        which = wanted
    elif tool("nft"):
        which = "nftables"
    elif tool("iptables"):
        which = "iptables"
    else:
        raise CniError(spec.UNSUPPORTED_FIELD, "ipMasq and portMappings need nftables or iptables; neither is installed")
    if ports and which == "iptables":
        raise CniError(spec.UNSUPPORTED_FIELD, "portMappings need the nftables backend (ipMasqBackend: nftables)")
    return which


def _run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    exe = tool(argv[0])
    if exe is None:
        raise CniError(spec.UNSUPPORTED_FIELD, f"{argv[0]} is not installed")
    proc = subprocess.run([exe, *argv[1:]], input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise CniError(spec.KERNEL_FAILURE, f"{' '.join(argv[:4])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


# -- nftables -------------------------------------------------------------------------------
def nft_script(net: str, cid: str, ifname: str, addresses: Iterable[str], masq: bool, ports: Iterable[PortMapping]) -> str:
    """The table for one attachment (addresses in interface form, e.g. 10.0.0.5/24)."""
    post, pre = [], []
    for cidr in addresses:
        iface = ipaddress.ip_interface(cidr)
        fam = "ip" if iface.version == 4 else "ip6"
        multicast = "224.0.0.0/4" if iface.version == 4 else "ff00::/8"
        if masq:
            post.append(f"{fam} saddr {iface.ip} {fam} daddr {iface.network} accept")
            post.append(f"{fam} saddr {iface.ip} {fam} daddr != {multicast} masquerade")
        for pm in ports:
            if pm.host_ip is not None and ipaddress.ip_address(pm.host_ip).version != iface.version:
                continue
            match = f"{fam} daddr {pm.host_ip}" if pm.host_ip else "fib daddr type local"
            target = f"{iface.ip}:{pm.container_port}" if iface.version == 4 else f"[{iface.ip}]:{pm.container_port}"
            pre.append(f"{match} {pm.protocol} dport {pm.host_port} dnat {fam} to {target}")
    lines = [f"table inet {table_name(net, cid, ifname)} {{", f'  comment "{comment(net, cid, ifname)}"']
    if post:
        lines += ["  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;",
                  *(f"    {r}" for r in post), "  }"]
    if pre:
        for chain, hook in (("prerouting", "prerouting"), ("output", "output")):
            lines += [f"  chain {chain} {{", f"    type nat hook {hook} priority -100; policy accept;",
                      *(f"    {r}" for r in pre), "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _nft_tables() -> list[str]:
    proc = _run(["nft", "list", "tables", "inet"], check=False)
    return re.findall(r"^table inet (\S+)$", proc.stdout, re.M)


def _nft_delete(name: str) -> None:
    proc = _run(["nft", "delete", "table", "inet", name], check=False)
    if proc.returncode != 0 and name in _nft_tables():
        raise CniError(spec.KERNEL_FAILURE, f"nft delete table inet {name} failed: {proc.stderr.strip()}")


# -- iptables -------------------------------------------------------------------------------
def _ipt(version: int) -> str:
    return "iptables" if version == 4 else "ip6tables"


def _ipt_setup(net: str, cid: str, ifname: str, addresses: Iterable[str]) -> None:
    chain, text = chain_name(net, cid, ifname), comment(net, cid, ifname)
    for cidr in addresses:
        iface = ipaddress.ip_interface(cidr)
        ipt = _ipt(iface.version)
        multicast = "224.0.0.0/4" if iface.version == 4 else "ff00::/8"
        if _run([ipt, "-t", "nat", "-N", chain], check=False).returncode != 0:
            _run([ipt, "-t", "nat", "-F", chain])
        _run([ipt, "-t", "nat", "-A", chain, "-d", str(iface.network), "-m", "comment", "--comment", text, "-j", "ACCEPT"])
        _run([ipt, "-t", "nat", "-A", chain, "!", "-d", multicast, "-m", "comment", "--comment", text, "-j", "MASQUERADE"])
        _run([ipt, "-t", "nat", "-A", "POSTROUTING", "-s", f"{iface.ip}/{iface.max_prefixlen}",
              "-m", "comment", "--comment", text, "-j", chain])


def _ipt_teardown(chain: str) -> None:
    for ipt in ("iptables", "ip6tables"):
        if tool(ipt) is None:
            continue
        rules = _run([ipt, "-t", "nat", "-S", "POSTROUTING"], check=False).stdout.splitlines()
        for rule in rules:
            if rule.startswith("-A POSTROUTING ") and rule.endswith(f"-j {chain}"):
                _run([ipt, "-t", "nat", "-D", *_split_rule(rule[3:])], check=False)
        if _run([ipt, "-t", "nat", "-F", chain], check=False).returncode == 0:
            _run([ipt, "-t", "nat", "-X", chain])


def _split_rule(rule: str) -> list[str]:
    import shlex  # iptables -S quotes comments the way a POSIX shell would

    return shlex.split(rule)


def _ipt_attachments(net: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for ipt in ("iptables", "ip6tables"):
        if tool(ipt) is None:
            continue
        for rule in _run([ipt, "-t", "nat", "-S", "POSTROUTING"], check=False).stdout.splitlines():
            m = re.search(r'--comment "?kubenetctl-cni net=(\S+) id=(\S+) if=([^"\s]+)"? -j (KN-[0-9a-f]+)', rule)
            if m and m.group(1) == net:
                out[m.group(4)] = (m.group(2), m.group(3))
    return out


# -- the operations the plugin uses ------------------------------------------------------------
def setup(which: str, net: str, cid: str, ifname: str, addresses: list[str], masq: bool, ports: list[PortMapping]) -> None:
    if not masq and not ports:
        return
    if which == "nftables":
        _run(["nft", "-f", "-"], stdin=nft_script(net, cid, ifname, addresses, masq, ports))
    else:  # backend() refused ports for iptables
        _ipt_setup(net, cid, ifname, addresses)


def teardown(which: str | None, net: str, cid: str, ifname: str) -> None:
    """Remove the attachment's rules with whichever tool is installed; gone is success."""
    if which in (None, "nftables") and tool("nft"):
        name = table_name(net, cid, ifname)
        if name in _nft_tables():
            _nft_delete(name)
    if which in (None, "iptables"):
        _ipt_teardown(chain_name(net, cid, ifname))


def attachments(net: str) -> list[tuple[str, str]]:
    """(container id, ifname) of every attachment of `net` that has rules installed."""
    found: set[tuple[str, str]] = set()
    if tool("nft"):
        prefix = f"{TABLE_PREFIX}{_hash(net, n=8)}_"
        for name in _nft_tables():
            if name.startswith(prefix):
                m = _COMMENT_RE.search(_run(["nft", "list", "table", "inet", name], check=False).stdout)
                if m and m.group(1) == net:
                    found.add((m.group(2), m.group(3)))
    found.update(_ipt_attachments(net).values())
    return sorted(found)

"""Masquerade (source NAT) with nftables over netlink, one table per rule, per namespace.

Each Masquerade resource is its own nftables table, `ip kubenetctl-masq-<src>`, holding a
postrouting NAT chain with one rule:

    ip saddr <src> [ip daddr != <exclude>] [oifname <out>] masquerade

A table of its own means that deleting it removes chain and rule in one message and
leaves nothing behind, and that kubenetctl never edits a table it did not make: the
host's (or anyone's) rules are untouched. The table name marks it as kubenetctl's.
The resource is read back from the rule itself, so an edited or emptied table shows
as drift.
"""

from __future__ import annotations

import contextlib

import errno
import ipaddress
import socket
from contextlib import contextmanager
from typing import Any, Iterator

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.nfnetlink.nftsocket import Cmp
from pyroute2.nftables.expressions import genex, ipv4addr, masq
from pyroute2.nftables.main import NFTables

from kubenetctl.errors import Unsupported
from kubenetctl.netlink import nsfs
from kubenetctl.ownership import PROTO_OWNER
from kubenetctl.resources import Masquerade
from kubenetctl.snapshot import Snapshot

TABLE_PREFIX = "kubenetctl-masq-"
CHAIN = "postrouting"
SRCNAT_PRIORITY = 100
NFT_META_OIFNAME = 7
IFNAMSIZ = 16
NOT_BUILT = (errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT)


def table_name(src: str) -> str:
    return TABLE_PREFIX + src.replace("/", "_")


def src_of(table: str) -> str:
    return table[len(TABLE_PREFIX):].replace("_", "/")


@contextmanager
def nft(netns: str | None) -> Iterator[NFTables]:
    """An nftables socket opened inside `netns` (never creates a namespace)."""
    try:
        with nsfs.entered(netns):
            sock = NFTables(nfgen_family=socket.AF_INET)
    except OSError as exc:
        if exc.errno in NOT_BUILT:
            raise unsupported() from None
        raise
    try:
        yield sock
    finally:
        sock.close()


def unsupported() -> Unsupported:
    return Unsupported("this kernel has no nftables NAT support (CONFIG_NF_TABLES, CONFIG_NFT_MASQ)")


def _oifname(name: str) -> list[Any]:
    padded = name.encode().ljust(IFNAMSIZ, b"\0")
    return [
        genex("meta", {"dreg": 1, "key": NFT_META_OIFNAME}),
        genex("cmp", {"sreg": 1, "op": Cmp.NFT_CMP_EQ, "data": {"attrs": [("NFTA_DATA_VALUE", padded)]}}),
    ]


def create(res: Masquerade) -> None:
    table = table_name(res.src)
    expressions: list[Any] = [ipv4addr(src=res.src)]
    if res.exclude:
        expressions.append(ipv4addr(dst=res.exclude, op=Cmp.NFT_CMP_NEQ))
    if res.out:
        expressions.append(_oifname(res.out))
    expressions.append(masq())
    with nft(res.netns) as sock:
        sock.table("add", name=table)
        try:  # three batches: a refused chain or rule must not leave the table half built
            sock.chain("add", table=table, name=CHAIN, hook="postrouting", type="nat", priority=SRCNAT_PRIORITY)
            sock.rule("add", table=table, chain=CHAIN, expressions=tuple(expressions))
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                sock.table("del", name=table)
            raise


def delete(res: Masquerade) -> None:
    with nft(res.netns) as sock:
        sock.table("del", name=table_name(res.src))


def replace(res: Masquerade) -> None:
    try:
        delete(res)
    except NetlinkError as exc:
        if exc.code != errno.ENOENT:
            raise
    create(res)


def _network(address: bytes, mask: bytes) -> str:
    prefix = bin(int.from_bytes(mask, "big")).count("1")
    return str(ipaddress.ip_network(f"{socket.inet_ntoa(address)}/{prefix}", strict=False))


def _parse(rule: Any) -> dict[str, Any]:
    """src, exclude and out of one of our rules (payload/bitwise/cmp and meta/cmp runs)."""
    found: dict[str, Any] = {"masq": False}
    offset = mask = meta = None
    for expr in rule.get_attr("NFTA_RULE_EXPRESSIONS") or []:
        name = expr.get_attr("NFTA_EXPR_NAME")
        data = expr.get_attr("NFTA_EXPR_DATA")
        attrs = dict(data["attrs"]) if data is not None else {}
        if name == "payload":
            offset, mask, meta = attrs.get("NFTA_PAYLOAD_OFFSET"), None, None
        elif name == "meta":
            meta, offset = attrs.get("NFTA_META_KEY"), None
        elif name == "bitwise":
            mask = dict(attrs["NFTA_BITWISE_MASK"]["attrs"])["NFTA_DATA_VALUE"]
        elif name == "cmp":
            value = dict(attrs["NFTA_CMP_DATA"]["attrs"])["NFTA_DATA_VALUE"]
            negated = attrs.get("NFTA_CMP_OP") == "NFT_CMP_NEQ"
            if offset in (12, 16):
                net = _network(value, mask or b"\xff\xff\xff\xff")
                found["exclude" if negated else "src"] = net
            elif meta is not None:
                found["out"] = value.rstrip(b"\0").decode(errors="replace")
        elif name == "masq":
            found["masq"] = True
    return found


def observe(snap: Snapshot, netns: str | None) -> None:
    """Add this namespace's kubenetctl masquerade tables to the snapshot."""
    try:
        with nft(netns) as sock:
            tables = [t.get_attr("NFTA_TABLE_NAME") for t in sock.get_tables()]
            ours = [t for t in tables if t and t.startswith(TABLE_PREFIX)]
            rules = sock.get_rules() if ours else []
    except Unsupported:
        return
    by_table: dict[str, list[Any]] = {}
    for rule in rules:
        by_table.setdefault(rule.get_attr("NFTA_RULE_TABLE"), []).append(rule)
    for table in ours:
        parsed = [_parse(r) for r in by_table.get(table, [])]
        good = [p for p in parsed if p["masq"] and p.get("src") == src_of(table)]
        if len(good) == 1 and len(parsed) == 1:
            got = good[0]
            res = Masquerade(netns, src_of(table), exclude=got.get("exclude"), out=got.get("out"))
        else:  # emptied or edited by hand: shows as drift, apply rewrites it, destroy removes it
            res = Masquerade(netns, src_of(table), exclude="(edited)")
        snap.add(res, PROTO_OWNER, table=table, rules=len(parsed))

"""Whole-file rules of a recipe (pure): what no single field can know on its own.

Duplicate names, references to things that do not exist, overlapping CIDRs, addresses
outside their network, MTUs that cannot carry the overlay, VNIs and VLAN ids used twice.
Every rule adds a Problem with the path of the offending value; nothing stops at the
first one. Rules that need generated names and the compiled resources (names colliding,
dangling link references, full slices) run in compile.py.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from kubenetctl.overlay import VXLAN_OVERHEAD_V4, overlay_mtu
from kubenetctl.recipe.load import Path, Problem
from kubenetctl.recipe.topology import UNDERLAY, Topology, items
from kubenetctl.validate import is_ip


class Checker:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.spec = topo.recipe.spec
        self.problems: list[Problem] = []
        # sections with invalid items (already reported): references into them are not checked
        self.incomplete = {name for name in type(self.spec).model_fields if _has_invalid(getattr(self.spec, name))}

    def complete(self, *sections: str) -> bool:
        return not self.incomplete.intersection(sections)

    def add(self, path: Path, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(tuple(path), message, hint))

    def run(self) -> list[Problem]:
        self.names()
        self.nodes()
        self.networks()
        self.pods()
        self.expect()
        self.low_level()
        return self.problems

    # -- names -----------------------------------------------------------------------
    def _unique(self, entries: Iterable[tuple[str, Path, str]], what: str, seen: dict[str, tuple[str, Path]],
                netns: bool = True) -> None:
        from kubenetctl.recipe.load import format_path

        for name, path, note in entries:
            if name in seen:
                other_what, other_path = seen[name]
                same = "another " + what if other_what == what else f"a {other_what}"
                self.add(
                    path, f"{what} name {name!r}{note} is already used by {same} ({format_path(other_path)})",
                    hint=f"nodes, pods and namespaces share one name space: each becomes netns {self.topo.netns(name)}"
                    if netns else None,
                )
            else:
                seen[name] = (what, path)

    def names(self) -> None:
        spec = self.spec
        seen: dict[str, tuple[str, Path]] = {UNDERLAY: ("reserved name (the underlay namespace)", ("spec", "underlay"))}
        self._unique(((n.name, (*p, "name"), "") for _, p, n in items(spec.nodes, "nodes")), "node", seen)
        self._unique(((p.name, (*p.path, "name"), "" if p.name == p.template else f" (a replica of {p.template})")
                      for p in self.topo.pods), "pod", seen)
        self._unique(((n.name, (*p, "name"), "") for _, p, n in items(spec.namespaces, "namespaces")), "namespace", seen)
        self._unique(((n.name, (*p, "name"), "") for _, p, n in items(spec.networks, "networks")), "network", {}, netns=False)

    # -- nodes -----------------------------------------------------------------------
    def nodes(self) -> None:
        underlay = self.topo.underlay
        if underlay.version != 4:
            self.add(("spec", "underlay", "cidr"), "the underlay must be an IPv4 network")
            return
        used: dict[str, Path] = {}
        slices: list[tuple[Any, Path]] = []
        for _, path, node in items(self.spec.nodes, "nodes"):
            info = self.topo.nodes.get(node.name)
            if info is None or info.path != path:
                continue  # a duplicate name, reported by names()
            if info.underlay_ip is None:
                self.add(path, f"the underlay {underlay} has no address left for node {node.name}", hint="use a larger underlay cidr")
            if node.underlayIP is not None:
                self._underlay_ip(node.underlayIP, (*path, "underlayIP"))
            if info.underlay_ip is not None:
                if info.underlay_ip in used:
                    self.add((*path, "underlayIP"), f"underlay address {info.underlay_ip} is also node {self._node_at(used[info.underlay_ip])}'s")
                used[info.underlay_ip] = path
            cidrs = ([(node.podCIDR, (*path, "podCIDR"))] if node.podCIDR else []) + [
                (c, (*path, "podCIDRs", k)) for k, c in enumerate(node.podCIDRs or [])
            ]
            networks_hit: dict[str, Path] = {}
            for cidr, cpath in cidrs:
                net = ipaddress.ip_network(cidr)
                owner = [n for n in self.topo.networks.values() if net.version == n.cidr.version and net.subnet_of(n.cidr)]  # type: ignore[arg-type]
                if not owner:
                    if self.complete("networks"):
                        known = ", ".join(f"{n.name} {n.cidr}" for n in self.topo.networks.values())
                        self.add(cpath, f"podCIDR {cidr} is not inside any network's cidr",
                                 hint=f"networks: {known}" if known else "the recipe declares no networks")
                elif owner[0].name in networks_hit:
                    self.add(cpath, f"node {node.name} already has a podCIDR in network {owner[0].name}")
                else:
                    networks_hit[owner[0].name] = cpath
                for other, opath in slices:
                    if net.overlaps(other):
                        self.add(cpath, f"podCIDR {cidr} overlaps {other} of node {self._node_at(opath)}")
                slices.append((net, cpath))

    def _node_at(self, path: Path) -> str:
        node = self.spec.nodes[path[2]]
        return node.name if node is not None else "?"

    def _underlay_ip(self, ip: str, path: Path) -> None:
        underlay = self.topo.underlay
        addr = ipaddress.ip_address(ip)
        if addr not in underlay:
            self.add(path, f"{ip} is not in the underlay {underlay}")
        elif addr in (underlay.network_address, underlay.broadcast_address, underlay.network_address + 1):
            self.add(path, f"{ip} is reserved in the underlay {underlay}", hint="its first address is the underlay's own, the last is broadcast")

    # -- networks ----------------------------------------------------------------------
    def networks(self) -> None:
        seen: list[tuple[Any, str, Path]] = []
        vnis: dict[tuple[int, int], str] = {}
        vlans: dict[int, str] = {}
        bridges: dict[str, str] = {}
        underlay_mtu = self.spec.underlay.mtu
        for _, path, net in items(self.spec.networks, "networks"):
            info = self.topo.networks.get(net.name)
            if info is None or info.path != path:
                continue
            cidr = info.cidr
            if cidr.version != 4:
                self.add((*path, "cidr"), "recipes build IPv4 pod networks; IPv6 is not supported yet")
                continue
            for other, name, _ in seen:
                if cidr.overlaps(other):
                    self.add((*path, "cidr"), f"{cidr} overlaps network {name} ({other})")
            if cidr.overlaps(self.topo.underlay):
                self.add((*path, "cidr"), f"{cidr} overlaps the underlay {self.topo.underlay}")
            seen.append((cidr, net.name, path))
            if net.nodePrefix is not None and net.nodePrefix < cidr.prefixlen:
                self.add((*path, "nodePrefix"), f"/{net.nodePrefix} slices do not fit in {cidr}", hint=f"use {cidr.prefixlen} or more")
            if net.overlay is not None and net.vlan is not None:
                self.add((*path, "vlan"), "a network is either a VXLAN overlay or a VLAN, not both")
            if info.l2 and net.gateway:
                self.add((*path, "gateway"), "an L2 network (flood overlay or VLAN) spans nodes as one segment and has no per-node gateway",
                         hint="remove gateway, or use overlay mode routed")
            if net.overlay is not None:
                limit = overlay_mtu(underlay_mtu)
                if info.mtu > limit:
                    self.add((*path, "mtu"), f"MTU {info.mtu} cannot be carried by the VXLAN overlay: the underlay MTU {underlay_mtu} "
                             f"leaves {limit} bytes after the {VXLAN_OVERHEAD_V4}-byte VXLAN header", hint=f"set mtu: {limit} or less (or raise underlay.mtu)")
                key = (net.overlay.vni, net.overlay.port)
                if key in vnis:
                    self.add((*path, "overlay", "vni"), f"VNI {key[0]} on port {key[1]} is already network {vnis[key]}'s",
                             hint="each overlay network needs its own VNI (or port)")
                vnis[key] = net.name
            elif info.mtu > underlay_mtu:
                self.add((*path, "mtu"), f"MTU {info.mtu} is larger than the underlay MTU {underlay_mtu}")
            if net.vlan is not None:
                if net.vlan in vlans:
                    self.add((*path, "vlan"), f"VLAN {net.vlan} is already network {vlans[net.vlan]}'s")
                vlans[net.vlan] = net.name
            if net.bridge is not None:
                if net.bridge in bridges:
                    self.add((*path, "bridge"), f"bridge {net.bridge} is already network {bridges[net.bridge]}'s",
                             hint="each network needs its own bridge on a node")
                bridges[net.bridge] = net.name
            spanned = sorted({p.node for p in self.topo.pods
                              if p.node in self.topo.nodes and any(a.network == net.name for a in p.attachments)})
            if len(spanned) > 1 and net.overlay is None and net.vlan is None:
                self.add(path, f"network {net.name} has pods on nodes {', '.join(spanned)} but nothing joins the nodes",
                         hint="add overlay: {type: vxlan} (routed or flood) or vlan: <id>, or keep the network on one node")

    # -- pods ------------------------------------------------------------------------
    def pods(self) -> None:
        for _, path, pod in items(self.spec.pods, "pods"):
            if pod.node is None and not pod.nodes:
                self.add(path, f"pod {pod.name} has no node", hint="add node: <name>")
            if pod.node is not None and pod.nodes:
                self.add((*path, "nodes"), "give either node or nodes, not both")
            if pod.nodes and pod.replicas is None:
                self.add((*path, "nodes"), "nodes spreads replicas; a single pod takes node", hint="add replicas: N, or use node")
            for k, ref in enumerate([pod.node] if pod.node else pod.nodes or []):
                if ref not in self.topo.nodes and self.complete("nodes"):
                    where = (*path, "node") if pod.node else (*path, "nodes", k)
                    self.add(where, f"node {ref!r} does not exist", hint=self._known("nodes", self.topo.nodes))
            joined: set[str] = set()
            for k, att in enumerate(pod.networks):
                apath = (*path, "networks", k)
                net = self.topo.networks.get(att.network)
                if net is None:
                    if not self.complete("networks"):
                        continue
                    self.add(apath, f"network {att.network!r} does not exist", hint=self._known("networks", self.topo.networks))
                    continue
                if att.network in joined:
                    self.add(apath, f"pod {pod.name} joins network {att.network} twice")
                joined.add(att.network)
                if att.ip is not None:
                    if pod.replicas is not None:
                        self.add((*apath, "ip"), "a fixed ip cannot be shared by replicas", hint="remove ip, or list the pods one by one")
                    elif ipaddress.ip_address(att.ip) not in net.cidr:
                        self.add((*apath, "ip"), f"{att.ip} is not in network {net.name} ({net.cidr})")
        pinned: dict[str, Path] = {}
        for _, path, pod in items(self.spec.pods, "pods"):
            for k, att in enumerate(pod.networks):
                if att.ip is not None and pod.replicas is None:
                    if att.ip in pinned:
                        self.add((*path, "networks", k, "ip"), f"address {att.ip} is fixed for another pod too")
                    pinned[att.ip] = path

    @staticmethod
    def _known(what: str, names: Iterable[str]) -> str:
        listed = ", ".join(sorted(names))
        return f"known {what}: {listed}" if listed else f"the recipe declares no {what}"

    # -- expectations ------------------------------------------------------------------
    def expect(self) -> None:
        if not self.complete("pods", "nodes", "networks"):
            return
        senders = set(self.topo.groups) | {p.name for p in self.topo.pods} | set(self.topo.nodes)
        for _, path, exp in items(self.spec.expect, "expect"):
            for field, refs in (("from", exp.from_), ("to", exp.to)):
                for k, ref in enumerate(refs):
                    where = (*path, field, k) if len(refs) > 1 else (*path, field)
                    if ref in senders:
                        continue
                    if field == "to" and is_ip(ref):
                        if ":" in ref:
                            self.add(where, f"{ref} is an IPv6 address; check pings IPv4 only",
                                     hint="name an IPv4 address, or the pod or node that holds it")
                        continue
                    self.add(where,
                             f"{ref!r} is not a pod, replica set, node" + (" or IP address" if field == "to" else ""),
                             hint=self._known("pods", {p.template for p in self.topo.pods}))
            if exp.network is not None and exp.network not in self.topo.networks:
                self.add((*path, "network"), f"network {exp.network!r} does not exist", hint=self._known("networks", self.topo.networks))

    # -- low level ---------------------------------------------------------------------
    def low_level(self) -> None:
        if not self.complete("nodes", "pods", "namespaces"):
            return
        namespaces = set(self.topo.nodes) | {p.name for p in self.topo.pods} | {
            n.name for _, _, n in items(self.spec.namespaces, "namespaces")
        }
        for section in ("namespaces", "links", "addresses", "routes", "fdb", "neighbors", "sysctls", "masquerade"):
            for _, path, item in items(getattr(self.spec, section), section):
                refs = [("netns", getattr(item, "netns", None))]
                peer = getattr(item, "peer", None)
                if peer is not None:
                    refs.append((("peer", "netns"), peer.netns))
                refs.append(("parentNetns", getattr(item, "parentNetns", None)))
                for field, ref in refs:
                    if ref is not None and ref not in namespaces:
                        where = (*path, *field) if isinstance(field, tuple) else (*path, field)
                        self.add(where, f"namespace {ref!r} is not a node, pod or namespaces[] entry",
                                 hint="low-level netns fields name namespaces of this lab; omit netns for the host's")
                node = getattr(item, "node", None)
                if node is not None and node not in self.topo.nodes:
                    self.add((*path, "node"), f"node {node!r} does not exist", hint=self._known("nodes", self.topo.nodes))


def _has_invalid(value: object) -> bool:
    return isinstance(value, list) and any(item is None for item in value)




def check(topo: Topology) -> list[Problem]:
    return Checker(topo).run()

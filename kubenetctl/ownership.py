"""How kubenetctl marks what it creates, so that it never deletes what it did not create.

- links: the interface alias (IFLA_IFALIAS) reads "kubenetctl:<owner>";
- namespaces: the alias of the namespace's own loopback carries the same marker
  (it lives and dies with the namespace, in the kernel, with no file to go stale);
- addresses, routes and permanent neighbours: the kernel's protocol field
  (IFA_PROTO, RTA/rtm_protocol, NDA_PROTOCOL) is set to RTPROT_KUBENETCTL;
- FDB entries have no such field: they belong to the owner of their device.

The owner names who created the object: "cli" for primitives run by hand, "lab/<name>"
for a recipe's lab, "cni/<network>" for the CNI plugin.
"""

from __future__ import annotations

MARKER_PREFIX = "kubenetctl:"
RTPROT_KUBENETCTL = 151  # unused by iproute2's rt_protos table
PROTO_OWNER = "kubenetctl"  # what a protocol-marked object reports as its owner
CLI_OWNER = "cli"


def marker(owner: str) -> str:
    return MARKER_PREFIX + owner


def owner_of(alias: str | None) -> str | None:
    """The owner named by an interface alias, or None when kubenetctl did not make it."""
    if alias and alias.startswith(MARKER_PREFIX):
        return alias[len(MARKER_PREFIX) :] or None
    return None


def lab_owner(lab: str) -> str:
    return f"lab/{lab}"

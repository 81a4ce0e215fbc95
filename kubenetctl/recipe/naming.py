"""Names a recipe generates: deterministic, collision-free, and within the kernel's limits.

The scheme (docs/recipes.md, "Naming"):
- namespaces: every node, pod and namespaces[] entry is the netns "<lab>-<name>"; the
  underlay (simulated nodes only) is "<lab>-underlay". Namespace names may be long.
- interface names are at most 15 bytes. A generated name is readable when it fits
  (br-podnet, eth0.10); a longer one keeps its first characters and ends in "-" plus 4
  hex digits of a hash of the full name (br-frontend-a3f0).
- node-side ends of pod veths are <vethPrefix> + hex digits of a hash of
  "<lab>/<pod>/<network>" (veth3f9a0c12), like the CNI bridge plugin, filling at most 15 bytes.
- VTEP MACs are 02: + 5 bytes of a hash of "<lab>/<node>/<network>" (locally
  administered, unicast), so every host computes the same MAC for a remote node.

Collisions are resolved, not hoped away: a Namer knows every name already taken in a
namespace (explicit names are claimed first) and, when a generated name is taken, hashes
again with a counter appended until it is free. Generation order is the recipe's order,
so the result depends only on the recipe.
"""

from __future__ import annotations

import hashlib

from kubenetctl.validate import IFNAMSIZ


def digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def fit(name: str, limit: int = IFNAMSIZ, salt: str = "") -> str:
    """`name` when it fits and no salt is asked for; else a prefix of it plus -<4 hex>."""
    if not salt and len(name.encode()) <= limit:
        return name
    tail = "-" + digest(name + salt, 4)
    return name.encode()[: limit - len(tail)].decode(errors="ignore").rstrip("-.") + tail


def hashed(prefix: str, key: str, salt: str = "", limit: int = IFNAMSIZ, width: int = 8) -> str:
    """prefix + hex digits of hash(key): veth3f9a0c12."""
    room = min(width, limit - len(prefix.encode()))
    return prefix + digest(key + salt, room)


def vtep_mac(key: str) -> str:
    raw = digest(key, 10)
    return "02:" + ":".join(raw[i : i + 2] for i in range(0, 10, 2))


class Namer:
    """Interface names taken per namespace; generates free ones."""

    def __init__(self) -> None:
        self.taken: dict[str | None, set[str]] = {}

    def claim(self, netns: str | None, name: str) -> bool:
        """Take an explicit name; False if it was already taken."""
        names = self.taken.setdefault(netns, set())
        if name in names:
            return False
        names.add(name)
        return True

    def readable(self, netns: str | None, name: str) -> str:
        return self._free(netns, lambda salt: fit(name, salt=salt))

    def hashed(self, netns: str | None, prefix: str, key: str) -> str:
        return self._free(netns, lambda salt: hashed(prefix, key, salt))

    def _free(self, netns: str | None, make) -> str:  # type: ignore[no-untyped-def]
        names = self.taken.setdefault(netns, set())
        candidate, n = make(""), 0
        while candidate in names:
            n += 1
            candidate = make(f"#{n}")
        names.add(candidate)
        return candidate

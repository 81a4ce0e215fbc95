"""Which addresses sit on which interfaces in every network namespace of the machine.

Namespaces are found the way a person would look for them: the bind mounts in
/run/netns, and the namespaces held by running processes (/proc/<pid>/ns/net, which is
where containers started without a bind mount live), one visit per namespace (deduplicated
by inode). The namespace this process runs in is left out.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Iterator

from kubenetctl.netlink import nsfs
from kubenetctl.netlink.session import Sessions


def namespaces() -> Iterator[str]:
    """Paths of every other network namespace, each once."""
    seen = set()
    try:
        own = os.stat("/proc/self/ns/net")
        seen.add((own.st_dev, own.st_ino))
    except OSError:
        pass
    candidates = [nsfs.path(n) for n in nsfs.list_names()]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            candidates.append(f"/proc/{pid}/ns/net")
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            continue
        seen.add(key)
        yield path


def interface_addresses() -> dict[tuple[str, str], str]:
    """(ip, ifname) -> namespace path, for every address in every other namespace."""
    found: dict[tuple[str, str], str] = {}
    with Sessions() as sessions:
        for path in namespaces():
            try:
                ipr = sessions.get(path)
                names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.link("dump")}
                for msg in ipr.addr("dump"):
                    addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                    if addr and msg["index"] in names:
                        found.setdefault((str(ipaddress.ip_address(addr)), names[msg["index"]]), path)
            except Exception:  # a process that exited meanwhile, a namespace we may not enter
                pass
            finally:
                sessions.forget(path)
    return found

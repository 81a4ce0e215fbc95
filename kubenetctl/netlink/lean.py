"""Load only the pyroute2 modules that are used, for short-lived processes (the CNI plugin).

`import pyroute2` runs the package's __init__, which imports every subsystem (NDB, IPDB,
conntrack, ipset, nl80211, wireguard, plan9, ...): about 0.1 s here, most of it for
modules kubenetctl never touches. Python imports a package before any of its submodules,
so `from pyroute2.iproute.linux import IPRoute` pays for all of it too.

install() registers a stand-in for the top-level package that carries the real
package's __spec__ and __path__, so `pyroute2.iproute`, `pyroute2.netlink...` load from
the installed files as usual and only they are imported. The real __init__ is not lost:
the names the netlink layer imports (IPRoute, NetlinkError) resolve straight to
their defining submodules (HOMES), and for any other top-level name the stand-in's
module __getattr__ (PEP 562) runs it, once, the first time anything asks
for a top-level name the stand-in lacks (`from pyroute2 import NDB` still works, it just
costs what it always did). Submodules asked for as attributes are imported directly.

It changes nothing when pyroute2 is already imported, and `KUBENETCTL_PYROUTE2_FULL=1`
turns it off (the escape hatch if a pyroute2 release ever depends on its __init__ side
effects; the unit test tests/unit/test_lean_import.py checks that the stand-in resolves
IPRoute and the netlink layer works with it).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any

PACKAGE = "pyroute2"
# top-level names the netlink layer imports, and the submodule that defines each
HOMES = {
    "IPRoute": "pyroute2.iproute.linux",
    "AsyncIPRoute": "pyroute2.iproute.linux",
    "NetlinkError": "pyroute2.netlink.exceptions",
    "NetlinkDumpInterrupted": "pyroute2.netlink.exceptions",
}


def install() -> bool:
    """Put the stand-in in place; True when it is (or already was) installed."""
    current = sys.modules.get(PACKAGE)
    if current is not None:
        return bool(getattr(current, "__kubenetctl_lean__", False))
    if os.environ.get("KUBENETCTL_PYROUTE2_FULL"):
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.submodule_search_locations is None or spec.loader is None:
        return False
    module = types.ModuleType(PACKAGE)
    module.__spec__ = spec
    module.__path__ = list(spec.submodule_search_locations)
    module.__file__ = spec.origin
    module.__loader__ = spec.loader
    module.__package__ = PACKAGE
    module.__kubenetctl_lean__ = True  # type: ignore[attr-defined]
    state = {"full": False}

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if not state["full"] and name in HOMES:
            value = getattr(importlib.import_module(HOMES[name]), name)
            setattr(module, name, value)
            return value
        full_name = f"{PACKAGE}.{name}"
        if not state["full"] and importlib.util.find_spec(full_name) is not None:
            return importlib.import_module(full_name)
        if not state["full"]:
            state["full"] = True
            spec.loader.exec_module(module)  # type: ignore[union-attr]  # the real __init__, once
            if name in module.__dict__:
                return module.__dict__[name]
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules[PACKAGE] = module
    return True

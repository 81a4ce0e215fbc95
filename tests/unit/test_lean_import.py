"""netlink/lean.py: the plugin loads only the pyroute2 modules it uses, and nothing breaks
for code that wants the whole package."""

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
from kubenetctl.netlink import lean
installed = lean.install()
import kubenetctl.netlink.backend, kubenetctl.netlink.session
lean_mods = sorted(m for m in sys.modules if m.startswith("pyroute2"))
from pyroute2 import IPRoute
from pyroute2.iproute.linux import IPRoute as Real
from pyroute2 import NDB              # not a submodule: runs the real __init__ once
from pyroute2 import netns            # a submodule
print(json.dumps({"installed": installed, "lean": lean_mods, "same": IPRoute is Real,
                  "ndb": NDB.__module__, "netns": netns.__name__,
                  "after": len([m for m in sys.modules if m.startswith("pyroute2")])}))
"""


def probe(env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_only_the_needed_modules_load_and_everything_still_resolves():
    got = probe()
    assert got["installed"] is True and got["same"] is True
    assert "pyroute2.iproute.linux" in got["lean"]
    assert not any(m.startswith(("pyroute2.ndb", "pyroute2.ipdb", "pyroute2.plan9", "pyroute2.conntrack"))
                   for m in got["lean"])
    assert got["ndb"] == "pyroute2.ndb.main" and got["netns"] == "pyroute2.netns"
    assert got["after"] > len(got["lean"])


def test_escape_hatch_turns_it_off():
    got = probe({"KUBENETCTL_PYROUTE2_FULL": "1"})
    assert got["installed"] is False and any(m.startswith("pyroute2.ndb") for m in got["lean"])

"""The only package that imports pyroute2.

pyroute2 is loaded lean (see lean.py: only the submodules used, not its __init__ that
imports every subsystem) before any module of this package imports it;
KUBENETCTL_PYROUTE2_FULL=1 turns that off.
"""

from kubenetctl.netlink import lean as _lean

_lean.install()

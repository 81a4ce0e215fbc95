"""IP address management compatible with the reference host-local plugin.

ranges.py is pure arithmetic; store.py is the on-disk store that host-local also reads
and writes; allocator.py joins them the way host-local does.
"""

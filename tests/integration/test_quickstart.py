"""The README's quickstart is examples/quickstart.sh, and it works: its pings pass."""

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import installed_entry_point

REPO = Path(__file__).resolve().parents[2]


def test_readme_shows_the_script_verbatim():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- quickstart:begin -->\n```bash\n(.*?)```\n<!-- quickstart:end -->", readme, re.S)
    assert block, "README.md lost its quickstart block"
    assert block.group(1) == (REPO / "examples" / "quickstart.sh").read_text()


def test_quickstart_pings_pass(names):
    """Run with this test's prefix (P) so its names are unique and the leak check sees them."""
    env = {**os.environ, "P": names.link_prefix, "K": installed_entry_point() or f"{sys.executable} -m kubenetctl"}
    proc = subprocess.run(["bash", str(REPO / "examples" / "quickstart.sh")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("1 packets transmitted, 1 received") == 2, proc.stdout

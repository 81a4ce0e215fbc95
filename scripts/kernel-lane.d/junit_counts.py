"""Print "PASSED FAILED SKIPPED SECONDS" for a pytest junit XML file (failed includes errors)."""

import sys
import xml.etree.ElementTree as ET


def counts(path: str) -> tuple[int, int, int, float]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    seconds = 0.0
    for suite in suites:
        seconds += float(suite.get("time") or 0)
        for case in suite.iter("testcase"):
            outcome = {child.tag for child in case}
            if outcome & {"failure", "error"}:
                failed += 1  # a test that passed but errored at teardown (a leak) counts as failed
            elif "skipped" in outcome:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped, seconds


if __name__ == "__main__":
    p, f, s, t = counts(sys.argv[1])
    print(p, f, s, f"{t:.1f}")

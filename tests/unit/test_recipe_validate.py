"""Recipe validation: every problem at once, each at file:line:column with its field path
and a hint. Golden files hold the exact expected report (no root needed).

Regenerate after an intended change: KUBENETCTL_UPDATE_GOLDEN=1 pytest tests/unit/test_recipe_validate.py
"""

import json
import os
from pathlib import Path

import pytest

from kubenetctl.errors import ExitCode
from kubenetctl.recipe import compile_document, load, loads
from tests.helpers import kn_inprocess as kn

INVALID = Path(__file__).parent / "golden" / "invalid"
UPDATE = os.environ.get("KUBENETCTL_UPDATE_GOLDEN") == "1"
CASES = sorted(INVALID.glob("*.yaml"))


def report(problems, source):
    lines = []
    for p in problems:
        lines.append(p.text(source))
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_problems_match_golden(case):
    doc = load(str(case))
    compiled, problems = compile_document(doc)
    assert compiled is None and problems
    text = report(problems, case.name)
    golden = case.with_suffix(".errors")
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_every_problem_has_a_position(case):
    doc = load(str(case))
    _, problems = compile_document(doc)
    for p in problems:
        assert p.pos is not None and p.pos.line >= 1 and p.pos.column >= 1, p


def test_issue_example_message():
    """links[2].vni out of range, reported with its path and position (the issue's example)."""
    doc = load(str(INVALID / "fields.yaml"))
    _, problems = compile_document(doc)
    texts = [p.text("fields.yaml") for p in problems]
    assert "fields.yaml:21:51: spec.links[2].vni: VNI 16777216 is out of range 1..16777215" in texts


def test_all_problems_in_one_run_are_sorted_by_position():
    doc = load(str(INVALID / "fields.yaml"))
    _, problems = compile_document(doc)
    assert len(problems) >= 15
    positions = [(p.pos.line, p.pos.column) for p in problems]
    assert positions == sorted(positions)


def test_unknown_field_suggests_the_closest():
    doc = loads("apiVersion: kubenetctl/v1\nkind: Lab\nmetadata: {name: x}\nspec:\n  networks:\n"
                "    - {name: n, cidr: 10.0.0.0/16, overlay: {vnii: 3}}\n", "x.yaml")
    _, problems = compile_document(doc)
    assert [(p.path, p.hint.split("?")[0]) for p in problems] == [
        (("spec", "networks", 0, "overlay", "vnii"), "did you mean 'vni'"),
    ]
    assert problems[0].pos.line == 6


def test_generated_names_never_exceed_15_bytes():
    """Long node and network names give readable-or-hashed names that fit, all distinct."""
    long = "a-very-long-network-name-for-testing"
    text = f"""apiVersion: kubenetctl/v1
kind: Lab
metadata: {{name: naming}}
spec:
  nodes: [{{name: a-node-with-a-long-name-1}}, {{name: a-node-with-a-long-name-2}}]
  networks:
    - {{name: {long}, cidr: 10.1.0.0/16, overlay: {{vni: 16777215}}}}
    - {{name: {long}-two, cidr: 10.2.0.0/16, overlay: {{vni: 16777214, mode: flood}}}}
  pods:
    - {{name: p, replicas: 40, nodes: [a-node-with-a-long-name-1, a-node-with-a-long-name-2], networks: [{long}, {long}-two]}}
"""
    compiled, problems = compile_document(loads(text, "n.yaml"))
    assert problems == []
    links = [r for r in compiled.resources if r.TYPE == "link"]
    assert all(len(r.name.encode()) <= 15 for r in links), [r.name for r in links if len(r.name.encode()) > 15]
    keys = [r.key for r in links]
    assert len(keys) == len(set(keys))
    node1 = compiled.resources[0].name.replace("underlay", "a-node-with-a-long-name-1")
    bridges = sorted(r.name for r in links if r.kind == "bridge" and r.netns == node1)
    assert len(bridges) == 2 and bridges[0] != bridges[1]
    assert all(b.startswith("br-a-very-") and len(b) == 14 for b in bridges)  # readable start, 4 hex digits of hash
    vxlans = sorted(r.name for r in links if r.kind == "vxlan" and r.netns == node1)
    assert vxlans == ["flannel.16-" + vxlans[0][-4:], "vxlan16777214"]  # flannel.16777215 is 16 bytes: hashed


def test_cli_prints_every_problem_then_a_summary_exit_2():
    result = kn("validate", str(INVALID / "references.yaml"))
    assert result.code == ExitCode.USAGE
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("kubenetctl: error: ")]
    golden = [line for line in (INVALID / "references.errors").read_text().splitlines() if not line.startswith("    hint:")]
    assert len(errors) == len(golden) + 1  # every problem, then the summary line
    assert errors[-1].endswith(f"references.yaml: {len(golden)} problems found; nothing was changed")
    assert "Traceback" not in result.stderr


def test_cli_json_lists_problems_with_positions():
    result = kn("-o", "json", "validate", str(INVALID / "mtu.yaml"))
    assert result.code == ExitCode.USAGE
    doc = json.loads(result.stdout)
    assert doc["kind"] == "ValidationResult" and doc["valid"] is False
    first = doc["items"][0]
    assert first["path"] == "spec.networks[0].mtu" and first["line"] == 13 and first["column"] == 12
    assert first["hint"].startswith("set mtu: 1450")


def test_cli_missing_file_is_not_found():
    result = kn("validate", "/nonexistent/recipe.yaml")
    assert result.code == ExitCode.NOT_FOUND
    assert "recipe file /nonexistent/recipe.yaml does not exist" in result.stderr


def test_an_alias_bomb_is_refused_quickly():
    """Nested YAML aliases multiply ("billion laughs"): 10**9 values from a 500-byte file."""
    lines = ["apiVersion: kubenetctl/v1", "kind: Lab", "metadata: {name: bomb}", "x0: &a0 [1,1,1,1,1,1,1,1,1,1]"]
    lines += [f"x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    doc = loads("\n".join(lines) + "\n", "bomb.yaml")
    assert doc.data is None
    assert [p.text("bomb.yaml") for p in doc.problems] == ["bomb.yaml:4:18: the recipe expands to more than 200,000 values"]


def test_merge_keys_still_work():
    doc = loads("base: &b {mtu: 1450}\nnet: {<<: *b, name: x}\n", "m.yaml")
    assert doc.problems == [] and doc.data["net"] == {"mtu": 1450, "name": "x"}

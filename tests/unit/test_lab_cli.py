"""The lab commands without root: plan against an empty machine, validate, schema,
lab list/show from a state directory, and the errors before anything is touched."""

import json
import os

import pytest

from kubenetctl.errors import ExitCode
from kubenetctl.state.journal import LabState
from kubenetctl.state.store import Store
from tests.helpers import kn_inprocess as kn
from tests.recipes import bundled
from tests.unit.test_recipe_compile import PLANS


@pytest.fixture
def not_root(monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 1000)


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path))
    return tmp_path


def test_plan_without_root_is_the_golden_plan(not_root, state_dir):
    result = kn("-o", "json", "plan", str(bundled("vxlan-routed")))
    assert result.code == 0, result
    doc = json.loads(result.stdout)
    assert (doc["kind"], doc["lab"], doc["observed"]) == ("Plan", "vxlan-routed", False)
    assert doc["items"] == json.loads((PLANS / "vxlan-routed.json").read_text())["ops"]
    assert doc["summary"] == {"create": len(doc["items"]), "update": 0, "replace": 0, "delete": 0}


def test_plan_table_says_it_did_not_look_at_the_kernel(not_root, state_dir):
    result = kn("plan", str(bundled("bridge-nat")), "--node", "node1")
    assert result.code == 0
    assert "not root: planned against an empty machine" in result.stdout
    assert "create   masquerade 10.88.0.0/24 except to 10.88.0.0/16 (host netns)" in result.stdout
    assert result.stdout.rstrip().endswith("to create.")


def test_validate_valid_recipe(state_dir):
    result = kn("validate", str(bundled("cluster4")))
    assert result.code == 0 and result.stderr == ""
    assert "valid: lab cluster4, 4 nodes, 36 pods" in result.stdout


def test_apply_checks_the_recipe_before_asking_for_root(not_root, state_dir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubenetctl/v1\nkind: Lab\nmetadata: {name: x}\nspec: {nodes: [{name: n, uplink: a-name-that-is-too-long}]}\n")
    result = kn("apply", str(bad))
    assert result.code == ExitCode.USAGE and "spec.nodes[0].uplink" in result.stderr
    result = kn("apply", str(bundled("bridge-nat")))
    assert result.code == ExitCode.PERMISSION and "apply needs root" in result.stderr
    assert Store().names() == []


def test_unknown_node_is_a_usage_error(not_root):
    result = kn("plan", str(bundled("vxlan-routed")), "--node", "node7")
    assert result.code == ExitCode.USAGE
    assert "--node node7: the recipe has no node named 'node7'" in result.stderr


def test_lab_list_and_show_read_the_state_dir(not_root, state_dir):
    assert json.loads(kn("-o", "json", "lab", "list").stdout)["items"] == []
    store = Store()
    with store.lock("demo", create=True):
        state = LabState("demo", "lab/demo", status="ready", recipe={"path": "/r/demo.yaml"})
        state.pods = [{"name": "web", "node": "node1", "netns": "demo-web", "addresses": {"podnet": "10.0.0.2"}}]
        store.write("demo", state)
    listed = json.loads(kn("-o", "json", "lab", "list").stdout)["items"]
    assert [(r["name"], r["status"], r["pods"]) for r in listed] == [("demo", "ready", 1)]
    shown = kn("lab", "show", "demo")
    assert shown.code == 0 and "web" in shown.stdout and "podnet=10.0.0.2" in shown.stdout
    missing = kn("lab", "show", "nope")
    assert missing.code == ExitCode.NOT_FOUND and "no lab named 'nope'" in missing.stderr


def test_lab_list_shows_a_malformed_lab_as_unreadable_and_lists_the_others(not_root, state_dir):
    store = Store()
    with store.lock("good", create=True):
        store.write("good", LabState("good", "lab/good", status="ready"))
    os.makedirs(store.path("bad"))
    with open(store.path("bad", "state.json"), "w") as fh:
        json.dump({"lab": "bad", "owner": "lab/bad", "created": "x"}, fh)
    result = kn("-o", "json", "lab", "list")
    assert result.code == 0, result
    rows = {r["name"]: r for r in json.loads(result.stdout)["items"]}
    assert rows["good"]["status"] == "ready" and rows["bad"]["status"] == "unreadable"
    assert "created: expected a JSON object, got string" in rows["bad"]["error"]


def test_destroy_and_check_of_an_unknown_lab(state_dir, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    for args in (["destroy", "ghost"], ["check", "ghost"]):
        result = kn(*args)
        assert result.code == ExitCode.NOT_FOUND, result
        assert "no lab named 'ghost'" in result.stderr


def test_destroy_missing_ok_is_for_teardown_scripts(state_dir, monkeypatch):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    result = kn("destroy", "ghost", "--missing-ok")
    assert result.code == 0 and "lab ghost: not recorded, nothing to destroy" in result.stdout, result
    doc = json.loads(kn("-o", "json", "destroy", "ghost", "--missing-ok").stdout)
    assert doc["kind"] == "DestroyResult" and doc["items"] == [] and doc["lab"] == "ghost"
    assert not os.path.exists(os.path.join(state_dir, "labs", "ghost"))


def test_recipe_schema_is_json():
    result = kn("recipe", "schema")
    assert result.code == 0 and json.loads(result.stdout)["title"].startswith("kubenetctl recipe")

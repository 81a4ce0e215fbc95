"""The published JSON Schema and the bundled recipes that point editors at it."""

import json

import jsonschema
import pytest
import yaml

from kubenetctl.recipe import compile_file
from kubenetctl.recipe.schema import MODELINE, schema
from tests.helpers import kn_inprocess as kn
from tests.recipes import BUNDLED, RECIPES, bundled

SCHEMA_FILE = RECIPES / "kubenetctl-recipe.schema.json"


def test_committed_schema_is_current():
    result = kn("recipe", "schema")
    assert result.code == 0
    assert SCHEMA_FILE.read_text() == result.stdout, (
        "recipes/kubenetctl-recipe.schema.json is stale: regenerate with "
        "'kubenetctl recipe schema > recipes/kubenetctl-recipe.schema.json'"
    )


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_recipe_is_documented_valid_and_compiles(name):
    text = bundled(name).read_text()
    lines = text.splitlines()
    assert lines[0] == MODELINE
    header = [line for line in lines[1:] if line.startswith("#")]
    assert len(header) >= 8, "each bundled recipe explains itself in a comment header"
    assert any("kubenetctl apply" in line for line in header)
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    compiled = compile_file(str(bundled(name)))
    assert compiled.expect, "each bundled recipe states what must (not) reach what"


def test_schema_rejects_what_validate_rejects():
    validator = jsonschema.Draft202012Validator(schema())
    bad = {"apiVersion": "kubenetctl/v1", "kind": "Lab", "metadata": {"name": "x"},
           "spec": {"links": [{"kind": "vxlan", "name": "vx0", "vni": 16777216}], "nodes": [{"name": "n", "podCIDRr": "x"}]}}
    paths = sorted(e.json_path for e in validator.iter_errors(bad))
    assert paths == ["$.spec.links[0]", "$.spec.nodes[0]"]

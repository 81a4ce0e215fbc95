"""The published JSON Schema of the recipe format (from the pydantic models).

`kubenetctl recipe schema` prints it; recipes/kubenetctl-recipe.schema.json is the same
document (a unit test keeps them equal), and bundled recipes point editors at it with
`# yaml-language-server: $schema=kubenetctl-recipe.schema.json`.
"""

from __future__ import annotations

import json
from typing import Any

from kubenetctl.recipe.model import Recipe

SCHEMA_ID = "https://kubenetctl.dev/schemas/kubenetctl-recipe.schema.json"
MODELINE = "# yaml-language-server: $schema=kubenetctl-recipe.schema.json"


def schema() -> dict[str, Any]:
    doc = Recipe.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "kubenetctl recipe (kind: Lab)",
        "description": "A pod-network lab: nodes, networks, pods and expectations, and/or low-level kernel objects.",
        **{k: v for k, v in doc.items() if k != "title"},
    }


def text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"

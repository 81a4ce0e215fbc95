"""kubenetctl recipe: the recipe format itself (its JSON Schema)."""

from __future__ import annotations

import sys


from kubenetctl.cli.common import group

app = group("The recipe format: its JSON Schema for editors and CI.")


@app.callback()
def recipe() -> None:
    """The recipe format: its JSON Schema for editors and CI."""


@app.command("schema")
def schema() -> None:
    """Print the recipe JSON Schema (also recipes/kubenetctl-recipe.schema.json)."""
    from kubenetctl.recipe.schema import text

    sys.stdout.write(text())

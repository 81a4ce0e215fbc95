"""kubenetctl recipe: the recipe format itself (its JSON Schema)."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(help="The recipe format: its JSON Schema for editors and CI.", no_args_is_help=True)


@app.callback()
def recipe() -> None:
    """The recipe format: its JSON Schema for editors and CI."""


@app.command("schema")
def schema() -> None:
    """Print the recipe JSON Schema (also recipes/kubenetctl-recipe.schema.json)."""
    from kubenetctl.recipe.schema import text

    sys.stdout.write(text())

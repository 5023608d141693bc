"""`imagine templates`: the prompt templates in force, where each is defined, and its fields."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from imagine.cli import options as opt
from imagine.cli import output
from imagine.project import find_project
from imagine.workflow.templating import PROMPT_FIELD, Template, load


def templates(
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per template.")
    ] = False,
    project: opt.ProjectDir = None,
) -> None:
    """List the prompt templates (-t NAME): version, fields, options and where each is defined.

    A project's [templates.NAME] in imagine.toml wins over the user config's of the same name.
    Example: imagine templates
    """
    found = load(find_project(project).config_file)
    if not found and not json_output:
        output.message(
            "no templates: add one to imagine.toml, e.g. [templates.ad] version = 1 and "
            'text = "{prompt}, {style} style, 35mm film"'
        )
    for template in sorted(found.values(), key=lambda item: item.name):
        if json_output:
            output.json_line(document(template))
        else:
            _show(template)


def document(template: Template) -> dict[str, Any]:
    return {
        "name": template.name,
        "version": template.version,
        "fields": list(template.fields),
        "text": template.text,
        "options": dict(template.defaults),
        "description": template.description,
        "defined_in": str(template.source),
        "scope": template.scope,
        "overrides": str(template.shadows) if template.shadows else None,
    }


def _show(template: Template) -> None:
    named = [name for name in template.fields if name != PROMPT_FIELD]
    fields = " ".join(
        ["{prompt}" if PROMPT_FIELD in template.fields else "(no {prompt})"]
        + [f"{{{name}}}" for name in named]
    )
    options = " ".join(f"{key}={value}" for key, value in template.defaults.items())
    output.data(
        f"{template.name}  v{template.version}  {fields}" + (f"  {options}" if options else "")
    )
    if template.description:
        output.data(f"    {template.description}")
    output.data(f"    defined in {template.source} ({template.scope})")
    if template.shadows:
        output.data(f"    overrides the user config's definition in {template.shadows}")

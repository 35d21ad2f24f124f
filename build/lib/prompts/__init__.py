"""Jinja2 templates for the agents, and the one loader for them."""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_ENVIRONMENT = Environment(
    loader=PackageLoader("prompts", "templates"),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(name: str, **variables: Any) -> str:
    """Render `templates/<name>`; a missing variable is an error, never an empty string."""
    return _ENVIRONMENT.get_template(name).render(**variables)


def render_blocks(name: str, **variables: Any) -> dict[str, str]:
    """Render each `{% block %}` of a template separately (a message skeleton's subject and body)."""
    template = _ENVIRONMENT.get_template(name)
    context = template.new_context(variables)
    # Optional paragraphs leave runs of blank lines behind; a message keeps one between paragraphs.
    return {block: re.sub(r"\n{3,}", "\n\n", "".join(render(context)).strip())
            for block, render in template.blocks.items()}

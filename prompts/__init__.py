"""Jinja2 templates for the agents, and the one loader for them."""

from __future__ import annotations

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

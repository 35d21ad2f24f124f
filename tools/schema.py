"""Compact tool schemas: the same constraints in fewer tokens of every client's context.

Pydantic spells a nullable field as `anyOf: [X, {"type": "null"}]` and titles every property; across a
dozen tools that doubles `tools/list`. The rewrite below keeps the schema valid for what the tool
accepts and returns (clients validate structured results against it) and drops what carries no meaning.
"""

from __future__ import annotations

from typing import Any

_SIMPLE_KEYS = frozenset({"type", "pattern", "format"})


def compact_schema(schema: Any, *, parent_key: str | None = None) -> Any:
    """A copy of `schema` with titles removed and nullable unions folded into type lists."""
    if isinstance(schema, list):
        return [compact_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if parent_key in {"properties", "$defs"}:
        # Keys here are field or model names, not schema keywords.
        return {name: compact_schema(value) for name, value in schema.items()}
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        result[key] = compact_schema(value, parent_key=key)
    if "anyOf" in result:
        folded = _fold_union(result["anyOf"])
        if folded is not None:
            del result["anyOf"]
            result.update(folded)
    return result


def _fold_union(options: list[Any]) -> dict[str, Any] | None:
    """One schema for `anyOf` options that differ only in type, or None when they cannot fold."""
    if not all(isinstance(option, dict) for option in options):
        return None
    nullable = {"type": "null"} in options
    others = [option for option in options if option != {"type": "null"}]
    if nullable and len(others) == 1 and isinstance(others[0].get("type"), str) and "anyOf" not in others[0]:
        folded = dict(others[0])
        folded["type"] = [folded["type"], "null"]
        if "enum" in folded:
            folded["enum"] = [*folded["enum"], None]
        return folded
    if all(set(option) <= _SIMPLE_KEYS and isinstance(option.get("type"), str) for option in others):
        types = [option["type"] for option in others] + (["null"] if nullable else [])
        return {"type": types if len(types) > 1 else types[0]}
    return None


def summarise_output(schema: dict[str, Any], *, depth: int) -> dict[str, Any]:
    """An output schema cut to `depth` levels of nested objects, with `$ref`s inlined and no
    `required` lists, descriptions or formats.

    Still true of every result (it only loosens), and a fraction of the size: the full shape
    of each row is in the result itself, which the model reads anyway.
    """
    return _limit(schema, schema.get("$defs", {}), depth)


def _limit(node: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    kind = node.get("type")
    if "properties" in node:
        if depth == 0:
            return {"type": kind if isinstance(kind, list) else "object"}
        return {"type": kind or "object",
                "properties": {name: _limit(value, defs, depth - 1) for name, value in node["properties"].items()}}
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        return {**{key: value for key, value in node.items() if key not in {"items", "description"}},
                "items": _limit(node.get("items", {}), defs, depth)}
    if "anyOf" in node:
        # Cut to depth, a nullable entity's options often differ only in type: one type list says the same,
        # in fewer tokens, and a client checks it without trying each option.
        options = [_limit(option, defs, depth) for option in node["anyOf"]]
        return _fold_union(options) or {"anyOf": options}
    return {key: value for key, value in node.items() if key not in {"description", "format"}}


# What a model needs named in a write tool's result to make its next call: which row, at which version.
KEY_FIELDS = ("id", "account_id", "version", "status")


def field_names_only(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema that names only the key fields of a result (KEY_FIELDS) and leaves their types open.

    For write tools: what they return is the entity just written, whose typed shape the read tools
    already describe, and the result itself shows every field; naming them all again cost a sixth of
    the catalogue's budget for no new meaning.
    """
    if "properties" not in schema:
        return schema
    keys = [name for name in KEY_FIELDS if name in schema["properties"]]
    return {"type": schema.get("type", "object"), "properties": {name: {} for name in keys}}

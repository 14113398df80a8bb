#!/usr/bin/env python
"""Regenerate `openapi.json` and `docs/api.md` from the app; `--check` only compares.

    python scripts/openapi.py           write both files
    python scripts/openapi.py --check   exit 1 if either is out of date

The app is built over a throwaway SQLite ledger: the document does not depend on data.
`tests/api/test_openapi.py` fails when the committed files differ from what this writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "openapi.json"
REFERENCE = ROOT / "docs" / "api.md"
REGENERATE = "python scripts/openapi.py"
SUCCESS = ("200", "201", "202", "204")

Schema = dict[str, Any]


# -- the document -----------------------------------------------------------------------------


def build_schema() -> Schema:
    """The app's OpenAPI document, as FastAPI serves it at /openapi.json."""
    from creditbook.api.app import create_app
    from creditbook.api.ratelimit import MemoryLimiter
    from creditbook.engine.ledger import Ledger
    from creditbook.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger.open(f"sqlite:///{Path(folder) / 'openapi.db'}")
        try:
            app = create_app(ledger, Settings(), limiter=MemoryLimiter())
            schema: Schema = app.openapi()
        finally:
            ledger.close()
    return schema


def render_json(schema: Schema) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# -- the reference ----------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _anchor(name: str) -> str:
    return "model-" + name.lower()


def type_of(schema: Schema) -> str:
    """A short type for a JSON schema: `string (date-time)`, `list[RunOut]`, `X or null`."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{name}](#{_anchor(name)})"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " or ".join(type_of(part) for part in schema[key])
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{type_of(schema.get('items', {}))}]"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            return f"map[string, {type_of(values)}]"
        return "object"
    if kind is None:
        return "any"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _constraints(schema: Schema) -> Iterator[str]:
    for part in schema.get("anyOf", []):
        yield from _constraints(part)
    for key, text in (
        ("minimum", "≥ {}"),
        ("maximum", "≤ {}"),
        ("minLength", "length ≥ {}"),
        ("maxLength", "length ≤ {}"),
        ("minItems", "≥ {} items"),
        ("maxItems", "≤ {} items"),
        ("maxProperties", "≤ {} entries"),
        ("pattern", "pattern `{}`"),
    ):
        if key in schema:
            value = schema[key]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            yield text.format(value)


def notes(schema: Schema, default: bool = True) -> str:
    parts = [schema.get("description", "")]
    parts += list(_constraints(schema))
    if default and "default" in schema:
        parts.append(f"default `{json.dumps(schema['default'], ensure_ascii=False)}`")
    return _cell("; ".join(part for part in parts if part))


def fields_table(model: Schema, *, defaults: bool = True) -> list[str]:
    properties: dict[str, Schema] = model.get("properties", {})
    if not properties:
        return [f"Type: {type_of(model)}.", ""]
    required = set(model.get("required", []))
    lines = ["| field | type | required | notes |", "|---|---|---|---|"]
    for name, field in properties.items():
        flag = "yes" if name in required else "no"
        text = notes(field, default=defaults)
        lines.append(f"| `{name}` | {_cell(type_of(field))} | {flag} | {text} |")
    return [*lines, ""]


def example_block(model: Schema) -> list[str]:
    examples = model.get("examples") or []
    if not examples:
        return []
    text = json.dumps(examples[0], indent=2, ensure_ascii=False)
    return ["Example:", "", "```json", text, "```", ""]


def _model(schema: Schema, document: Schema) -> tuple[str | None, Schema]:
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        found: Schema = document["components"]["schemas"][name]
        return name, found
    return None, schema


def _body(title: str, media: dict[str, Any], document: Schema, *, request: bool) -> list[str]:
    name, model = _model(media.get("schema", {}), document)
    lines = [f"**{title}**" + (f": [{name}](#{_anchor(name)})" if name else ""), ""]
    lines += fields_table(model, defaults=request)
    return lines + example_block(model) if request else lines


def common_errors(document: Schema) -> dict[str, str]:
    """Each error status's most frequent description: the shared error responses."""
    seen: dict[str, dict[str, int]] = {}
    for _, _, operation in operations(document):
        for status, response in operation.get("responses", {}).items():
            if status not in SUCCESS:
                counts = seen.setdefault(status, {})
                text = response.get("description", "")
                counts[text] = counts.get(text, 0) + 1
    return {status: max(counts, key=lambda t: counts[t]) for status, counts in seen.items()}


def _auth(operation: Schema, document: Schema) -> str:
    requirements = operation.get("security") or []
    if not requirements:
        return "none"
    schemes = document["components"]["securitySchemes"]
    ways = [
        _cell(schemes[name].get("description", name))
        for requirement in requirements
        for name in requirement
    ]
    return "API key, any of: " + " ".join(ways)


def render_operation(method: str, path: str, operation: Schema, document: Schema) -> list[str]:
    lines = [
        f"### {operation.get('summary', operation['operationId'])}",
        "",
        f"`{method.upper()} {path}`",
        "",
        f"- Operation id: `{operation['operationId']}`",
        f"- Auth: {_auth(operation, document)}",
        "",
    ]
    if operation.get("description"):
        lines += [operation["description"].strip(), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += [
            "**Parameters**",
            "",
            "| name | in | type | required | notes |",
            "|---|---|---|---|---|",
        ]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            described = {**schema, "description": parameter.get("description", "")}
            flag = "yes" if parameter.get("required") else "no"
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | {_cell(type_of(schema))} "
                f"| {flag} | {notes(described)} |"
            )
        lines.append("")
    body = operation.get("requestBody", {}).get("content", {})
    for media_type, media in body.items():
        lines += _body(f"Request body ({media_type})", media, document, request=True)
    responses: dict[str, Schema] = operation.get("responses", {})
    for status, response in responses.items():
        if status not in SUCCESS:
            continue
        content = response.get("content", {})
        if not content:
            lines += [f"**Response {status}**: no body.", ""]
        for media_type, media in content.items():
            lines += _body(f"Response {status} ({media_type})", media, document, request=False)
    errors = sorted((s, r) for s, r in responses.items() if s not in SUCCESS)
    if not errors:
        return lines
    listed = "; ".join(f"{status} {_codes(response)}".strip() for status, response in errors)
    lines += [f"**Errors** ([shapes](#errors)): {listed}.", ""]
    shared = common_errors(document)
    special = [(s, r) for s, r in errors if r.get("description", "") != shared.get(s)]
    if special:
        lines += ["| status | body | meaning here |", "|---|---|---|"]
        lines += [_error_row(status, response, document) for status, response in special]
        lines.append("")
    return lines


def _codes(response: Schema) -> str:
    """The error codes a response's description names, in backticks (`not_found`)."""
    codes = re.findall(r"`([a-z][a-z0-9_]*)`", response.get("description", ""))
    return ", ".join(f"`{code}`" for code in dict.fromkeys(codes))


def _error_row(status: str, response: Schema, document: Schema) -> str:
    media = response.get("content", {}).get("application/json", {})
    name, _ = _model(media.get("schema", {}), document)
    shape = f"[{name}](#{_anchor(name)})" if name else ""
    return f"| {status} | {shape} | {_cell(response.get('description', ''))} |"


def operations(document: Schema) -> Iterator[tuple[str, str, Schema]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def render_markdown(document: Schema) -> str:
    info = document["info"]
    lines = [
        "# API reference",
        "",
        f"<!-- Generated from openapi.json by `{REGENERATE}`: do not edit by hand. -->",
        "",
        f"{info['title']} {info['version']} (OpenAPI {document['openapi']}). "
        "The same document is served at `/openapi.json`, with interactive docs at `/docs`.",
        "",
        info.get("description", "").strip(),
        "",
        "Credits are exact JSON numbers (`116`, `0.5`); timestamps are RFC 3339 UTC with `Z`. "
        "Every POST takes an `Idempotency-Key` header: a replay returns the stored response "
        "with `Idempotency-Hit: true`. Lists page with `{data, has_more, next_cursor}`.",
        "",
        "## Errors",
        "",
        'Native errors are `{"detail": "<message>", "code": "<snake_case>"}` '
        "([ErrorOut](#model-errorout)). Every operation that takes a key documents these "
        "(402 only where credits are spent); where an operation differs, it says so.",
        "",
        "| status | body | meaning |",
        "|---|---|---|",
    ]
    shared = common_errors(document)
    for status in sorted(shared):
        lines.append(
            _error_row(
                status,
                {
                    "description": shared[status],
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    },
                },
                document,
            )
        )
    lines += [
        "",
        "## Operations",
        "",
        "| method | path | operation id | summary |",
        "|---|---|---|---|",
    ]
    by_tag: dict[str, list[tuple[str, str, Schema]]] = {}
    for method, path, operation in operations(document):
        tag = (operation.get("tags") or ["other"])[0]
        by_tag.setdefault(tag, []).append((method, path, operation))
        summary = operation.get("summary", "")
        anchor = "-".join("".join(c for c in summary.lower() if c.isalnum() or c in " -_").split())
        lines.append(
            f"| {method.upper()} | `{path}` | `{operation['operationId']}` "
            f"| [{_cell(summary)}](#{anchor}) |"
        )
    lines.append("")
    for tag, items in by_tag.items():
        lines += [f"## {tag.capitalize()}", ""]
        for method, path, operation in items:
            lines += render_operation(method, path, operation, document)
    lines += ["## Models", ""]
    for name, model in document["components"]["schemas"].items():
        lines += [f'<a id="{_anchor(name)}"></a>', "", f"### {name}", ""]
        if model.get("description"):
            lines += [_cell(model["description"]), ""]
        lines += fields_table(model)
    return "\n".join(lines).rstrip() + "\n"


# -- command line -----------------------------------------------------------------------------


def outputs(schema: Schema) -> dict[Path, str]:
    return {SNAPSHOT: render_json(schema), REFERENCE: render_markdown(schema)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs(build_schema()).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        names = ", ".join(str(path) for path in stale)
        print(f"out of date: {names}; run `{REGENERATE}`", file=sys.stderr)
        return 1
    for path in stale:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

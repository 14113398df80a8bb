"""The compat pages in docs/ show what the server really answers.

Each page's ```sh blocks are replayed in order against the app in-process: every curl
command (method, URL, -H headers, -d body) goes through a TestClient, shell variables set
with `VAR=$(curl … | jq -r .field)` are kept for later commands, and the ```json block
labelled "Response `<status>`:" right after a block is compared with the answer of that
block's printing curl command. Setup commands must succeed (2xx).

The clock is a ManualClock set to the instant the page says its responses were recorded,
and does not move: every event of the replay happens at that instant, and period
boundaries (resets, anchors, dates) must match exactly. Two kinds of values cannot repeat
between runs and are matched loosely: random ids (`txn_<hex>`, 32-hex run ids) match any
id of the same form, and an event time in the page (taken by the wall clock while
recording) matches the replay's event time when it is within an hour after it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from creditbook import Ledger, ManualClock
from creditbook.api.app import create_app
from creditbook.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["compat-lobstr.md", "compat-localleads.md", "compat-clodura.md", "compat-stats.md"]
BASE_URL = "http://127.0.0.1:8000"
OPERATOR_KEY_VAR = "CREDITBOOK_OPERATOR_KEY"
RECORDED = re.compile(r"recorded against a fresh server at `([^`]+)`")
FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
RESPONSE_LABEL = re.compile(r"^Response `(\d{3})`:$")
ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Z_][A-Z0-9_]*)=\$\((.*)\)$", re.DOTALL)
JQ = re.compile(r"^(.*?)\s*\|\s*jq -r (\.[A-Za-z_][A-Za-z0-9_.]*)$", re.DOTALL)
ECHO = re.compile(r'^echo "\$([A-Z_][A-Z0-9_]*)"$')
VARIABLE = re.compile(r"\$(?:\{([A-Z_][A-Z0-9_]*)\}|([A-Z_][A-Z0-9_]*))")
SINGLE_QUOTED = re.compile(r"'[^']*'")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z$")
RANDOM_ID = re.compile(r"^(?:[0-9a-f]{32}|([a-z]{2,5}_)[0-9a-f]{16,})$")
RECORDING_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Curl:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None


@dataclass(frozen=True)
class Command:
    """A printing curl, `VAR=$(curl … [| jq -r .f])` or `VAR=$(echo "$X" | jq -r .f)`."""

    text: str
    curl: Curl | None
    target: str | None = None  # the variable an assignment sets
    source: str | None = None  # the variable an `echo` assignment reads
    jq_path: str | None = None


@dataclass(frozen=True)
class Example:
    """One ```sh block with curl commands and, when the page shows one, its response."""

    line: int
    commands: list[Command]
    status: int | None = None
    response: Any = None
    response_line: int | None = None


@dataclass
class Page:
    name: str
    recorded_at: datetime
    examples: list[Example] = field(default_factory=list)


# -- reading a page -------------------------------------------------------------------------


def logical_lines(block: str) -> list[str]:
    """Shell lines with `\\` continuations joined, without blanks and comments."""
    lines = []
    for line in re.sub(r"\\\n\s*", " ", block).splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def parse_curl(text: str) -> Curl:
    tokens = shlex.split(text)
    assert tokens[0] == "curl", text
    method, url, headers, body = None, None, {}, None
    options = iter(tokens[1:])
    for token in options:
        if token in ("-s", "--silent", "-sS", "-S", "--show-error"):
            continue
        if token in ("-X", "--request"):
            method = next(options)
        elif token in ("-H", "--header"):
            name, _, value = next(options).partition(":")
            headers[name.strip()] = value.strip()
        elif token in ("-d", "--data", "--data-raw"):
            body = next(options)
        elif token == "--url":
            url = next(options)
        elif token.startswith("-"):
            raise AssertionError(f"curl option {token} is not understood by this test: {text}")
        else:
            assert url is None, f"two URLs in one curl command: {text}"
            url = token
    assert url is not None and url.startswith(BASE_URL + "/"), f"URL must be on {BASE_URL}"
    method = method or ("POST" if body is not None else "GET")
    return Curl(method.upper(), url[len(BASE_URL) :], headers, body)


def parse_command(text: str) -> Command:
    for quoted in SINGLE_QUOTED.findall(text):
        assert "$" not in quoted, f"the shell does not expand variables in '…': {text}"
    assignment = ASSIGNMENT.match(text)
    if assignment is None:
        assert text.startswith("curl "), f"shell line not understood by this test: {text}"
        return Command(text, parse_curl(text))
    target, inner = assignment.groups()
    piped = JQ.match(inner)
    command, jq_path = (piped.group(1), piped.group(2)) if piped else (inner, None)
    echo = ECHO.match(command)
    if echo is not None:
        assert jq_path is not None, text
        return Command(text, None, target, echo.group(1), jq_path)
    assert command.startswith("curl "), f"shell line not understood by this test: {text}"
    return Command(text, parse_curl(command), target, None, jq_path)


def read_page(name: str) -> Page:
    text = (ROOT / "docs" / name).read_text()
    recorded = RECORDED.search(text)
    assert recorded is not None, f"{name} must say when its responses were recorded"
    page = Page(name, datetime.fromisoformat(recorded.group(1)))
    previous_end = 0
    for fence in FENCE.finditer(text):
        language, block = fence.groups()
        line = text.count("\n", 0, fence.start()) + 1
        if language == "sh" and "curl " in block:
            commands = [parse_command(command) for command in logical_lines(block)]
            page.examples.append(Example(line, commands))
        elif language == "json":
            between = text[previous_end : fence.start()].strip().splitlines()
            label = RESPONSE_LABEL.match(between[-1]) if between else None
            assert label is not None, f"{name}:{line}: a json block must be a labelled response"
            assert page.examples and len(between) == 1, (
                f"{name}:{line}: a response must come right after its curl block"
            )
            example = page.examples[-1]
            assert example.status is None, f"{name}:{line}: two responses for one block"
            printing = [c for c in example.commands if c.target is None]
            assert len(printing) == 1 and example.commands[-1] is printing[0], (
                f"{name}:{example.line}: a block with a response prints exactly one answer, last"
            )
            page.examples[-1] = replace(
                example,
                status=int(label.group(1)),
                response=json.loads(block),
                response_line=line,
            )
        previous_end = fence.end()
    return page


# -- replaying it ---------------------------------------------------------------------------


def substitute(value: str, variables: dict[str, str]) -> str:
    def lookup(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in variables, f"${name} is used before the page sets it"
        return variables[name]

    return VARIABLE.sub(lookup, value)


def jq(document: Any, path: str) -> str:
    for part in path.strip(".").split("."):
        document = document[part]
    return document if isinstance(document, str) else json.dumps(document)


def send(client: TestClient, curl: Curl, variables: dict[str, str]) -> Any:
    body = None if curl.body is None else substitute(curl.body, variables).encode()
    return client.request(
        curl.method,
        substitute(curl.path, variables),
        headers={name: substitute(value, variables) for name, value in curl.headers.items()},
        content=body,
    )


def align(documented: Any, actual: Any, recorded_at: datetime) -> Any:
    """`actual` with its random ids and event times (`recorded_at`, when the replay's clock
    stands) replaced by the page's values where those are of the same kind: an id of the
    same form, a time in the same format up to an hour after. The rest is left as the
    server answered."""
    if isinstance(documented, dict) and isinstance(actual, dict):
        return {
            k: align(documented[k], v, recorded_at) if k in documented else v
            for k, v in actual.items()
        }
    if isinstance(documented, list) and isinstance(actual, list):
        aligned = [align(d, a, recorded_at) for d, a in zip(documented, actual, strict=False)]
        return aligned + actual[len(aligned) :]
    if isinstance(documented, str) and isinstance(actual, str) and documented != actual:
        page_id, real_id = RANDOM_ID.match(documented), RANDOM_ID.match(actual)
        if page_id and real_id and page_id.group(1) == real_id.group(1):
            return documented
        page_time, real_time = TIMESTAMP.match(documented), TIMESTAMP.match(actual)
        if page_time and real_time and len(documented) == len(actual):
            event = datetime.fromisoformat(actual)
            late = datetime.fromisoformat(documented) - event
            if event == recorded_at and timedelta(0) <= late <= RECORDING_WINDOW:
                return documented
    return actual


def replay(client: TestClient, page: Page, operator_key: str) -> int:
    """Run every example of the page; return how many responses were compared."""
    variables = {OPERATOR_KEY_VAR: operator_key}
    compared = 0
    for example in page.examples:
        where = f"docs/{page.name}:{example.line}"
        for command in example.commands:
            if command.curl is None:
                assert command.target and command.source and command.jq_path
                source = json.loads(substitute(f"${command.source}", variables))
                variables[command.target] = jq(source, command.jq_path)
                continue
            response = send(client, command.curl, variables)
            if command.target is not None or example.status is None:
                assert response.status_code < 300, (where, command.text, response.text)
                if command.target is not None:
                    body = response.json()
                    value = jq(body, command.jq_path) if command.jq_path else response.text
                    variables[command.target] = value
                continue
            drifted = (
                f"{where}: the response documented at line {example.response_line} is not "
                f"what the server answers to `{command.text}`"
            )
            assert response.status_code == example.status, (drifted, response.text)
            actual = align(example.response, response.json(), page.recorded_at)
            assert actual == example.response, drifted
            assert json.dumps(actual) == json.dumps(example.response), (
                f"{where}: same fields, different order"
            )
            compared += 1
    return compared


# -- tests ----------------------------------------------------------------------------------


@pytest.fixture
def client(ledger: Ledger) -> Iterator[TestClient]:
    settings = Settings(rate_limit_per_s=10_000, rate_limit_burst=10_000)
    with TestClient(create_app(ledger, settings=settings)) as client:
        yield client


@pytest.fixture
def operator_key(ledger: Ledger) -> str:
    secret = ledger.create_key(None, scope="operator").secret
    assert secret is not None
    return secret


@pytest.mark.parametrize("name", PAGES)
def test_documented_responses_are_what_the_server_answers(
    name: str, client: TestClient, operator_key: str, clock: ManualClock
) -> None:
    page = read_page(name)
    clock.set(page.recorded_at)
    assert replay(client, page, operator_key) >= 2


@pytest.mark.parametrize("name", PAGES)
def test_a_drifted_response_fails(
    name: str, client: TestClient, operator_key: str, clock: ManualClock
) -> None:
    page = read_page(name)
    index, example = next((i, e) for i, e in enumerate(page.examples) if e.status == 200)
    page.examples[index] = replace(example, response=drift(example.response))
    clock.set(page.recorded_at)
    with pytest.raises(AssertionError, match="is not what the server answers"):
        replay(client, page, operator_key)


def drift(value: Any) -> Any:
    """The document with its first number one higher (or, without numbers, a key more)."""
    changed = False

    def walk(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, int | float) and not isinstance(node, bool) and not changed:
            changed = True
            return node + 1
        return node

    result = walk(value)
    return result if changed else {**result, "drift": True}


def test_alignment_tolerates_only_ids_and_recording_times() -> None:
    recorded_at = datetime.fromisoformat("2026-11-25T15:40:00Z")
    page = {"id": "txn_" + "a" * 24, "at": "2026-11-25T15:40:03.120Z", "n": 1}
    same = {"id": "txn_" + "b" * 24, "at": "2026-11-25T15:40:00.000Z", "n": 1}
    assert align(page, same, recorded_at) == page
    assert align(page, same, recorded_at + timedelta(seconds=1)) != page  # not an event
    for wrong in (
        {**same, "id": "grt_" + "b" * 24},  # another kind of id
        {**same, "at": "2026-11-25T15:40:00Z"},  # another format
        {**same, "n": 2},
    ):
        assert align(page, wrong, recorded_at) != page
    for late in ("2026-11-25T15:39:59.999Z", "2026-11-25T16:40:00.001Z"):
        assert align({**page, "at": late}, same, recorded_at) != {**page, "at": late}


def test_readme_links_every_compat_page() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in PAGES:
        assert f"](docs/{name})" in readme, name

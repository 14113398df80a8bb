"""Expected failures: one `error: <code>: <message>` line on stderr and a meaningful exit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.cli.conftest import Mode, Server, free_port, invoke, one_error_line

from creditbook import Ledger
from creditbook.cli import remote
from creditbook.cli.errors import EXIT_CODES
from creditbook.engine.keys import ApiKey


def test_not_found_exits_3(mode: Mode, acme: str) -> None:
    for args in (("balance", "nobody"), ("accounts", "show", "nobody"), ("runs", "show", "r0")):
        result = mode.run(*args)
        assert result.exit_code == 3, (args, result.stderr)
        assert one_error_line(result).startswith("error: not_found: ")


def test_insufficient_credits_exits_4_and_charges_nothing(mode: Mode, acme: str) -> None:
    result = mode.run("charge", acme, "100.001")
    assert result.exit_code == 4
    assert one_error_line(result).startswith("error: insufficient_credits: ")
    assert mode.json("balance", acme)["pools"]["credits"]["available"] == 100
    partial = mode.json("charge", acme, "150", "--partial")
    assert partial["amount"] == 100


def test_conflicts_exit_6(mode: Mode, acme: str) -> None:
    mode.ok("charge", acme, "1", "--idempotency-key", "job-1")
    replay = mode.json("charge", acme, "1", "--idempotency-key", "job-1")
    assert mode.json("balance", acme)["pools"]["credits"]["available"] == 99
    assert replay["amount"] == 1
    result = mode.run("charge", acme, "2", "--idempotency-key", "job-1")
    assert result.exit_code == 6
    assert one_error_line(result).startswith("error: idempotency_key_conflict: ")
    exists = mode.run("accounts", "create", "--plan", "starter", "--id", acme)
    assert exists.exit_code == 6


def test_validation_and_usage_exit_2(mode: Mode, acme: str) -> None:
    for args in (
        ("charge", acme, "0.0001"),
        ("charge", acme, "lots"),
        ("charge", acme),
        ("grant", acme, "5", "--source", "gift"),
        ("accounts", "create", "--plan", "starter", "--id", "Not An Id"),
        ("balance", acme, "--at", "yesterday"),
    ):
        result = mode.run(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        line = one_error_line(result)
        assert line.startswith(("error: validation_error: ", "error: usage: ")), line


def test_bad_keys_exit_5(server: Server, acme_remote: None) -> None:
    base = ("--base-url", server.url)
    unknown = invoke("balance", "acme", *base, env={"CREDITBOOK_API_KEY": "cb_nope"})
    assert unknown.exit_code == 5
    assert one_error_line(unknown).startswith("error: unauthenticated: ")
    missing = invoke("balance", "acme", *base)
    assert missing.exit_code == 5
    operator = {"CREDITBOOK_API_KEY": server.operator_key}
    issued = invoke("keys", "create", "--account", "acme", *base, "--json", env=operator)
    secret = issued.stdout.split('"secret": "')[1].split('"')[0]
    reader = {"CREDITBOOK_API_KEY": secret}
    assert invoke("balance", "acme", *base, env=reader).exit_code == 0
    forbidden = invoke("charge", "acme", "1", *base, env=reader)
    assert forbidden.exit_code == 5
    assert one_error_line(forbidden).startswith("error: forbidden: ")
    key_id = issued.stdout.split('"key_id": "')[1].split('"')[0]
    assert invoke("keys", "revoke", key_id, *base, env=operator).exit_code == 0
    revoked = invoke("balance", "acme", *base, env=reader)
    assert revoked.exit_code == 5
    assert one_error_line(revoked).startswith("error: key_revoked: ")


@pytest.fixture
def acme_remote(server: Server, pricing_file: Path) -> None:
    env = {"CREDITBOOK_API_KEY": server.operator_key}
    base = ("--base-url", server.url)
    assert invoke("apply", str(pricing_file), *base, env=env).exit_code == 0
    created = invoke("accounts", "create", "--plan", "starter", "--id", "acme", *base, env=env)
    assert created.exit_code == 0, created.stderr


def test_unreachable_server_exits_7() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = invoke("balance", "acme", "--base-url", url, env={"CREDITBOOK_API_KEY": "cb_x"})
    assert result.exit_code == 7
    assert one_error_line(result).startswith("error: connection_error: ")


def test_exit_codes_are_distinct_per_kind() -> None:
    assert EXIT_CODES["not_found"] == 3
    assert EXIT_CODES["insufficient_credits"] == 4
    assert {EXIT_CODES[c] for c in ("unauthenticated", "key_revoked", "forbidden")} == {5}
    assert EXIT_CODES["idempotency_key_conflict"] == 6
    assert EXIT_CODES["connection_error"] == 7


class LoseFirstKeyAnswer(httpx.HTTPTransport):
    """The server issues the key, and its answer is lost on the way back (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/api_keys") and not self.lost:
            self.lost = True
            response.read()
            response.close()
            raise httpx.ReadError("connection lost while reading the answer", request=request)
        return response


def test_a_lost_key_secret_is_one_error_line_never_none(
    server: Server, acme_remote: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "TRANSPORT", LoseFirstKeyAnswer())
    env = {"CREDITBOOK_API_KEY": server.operator_key}
    result = invoke("keys", "create", "--account", "acme", "--base-url", server.url, env=env)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: key_secret_lost: ") and "revoke" in line
    assert "None" not in result.stdout and result.stdout == ""


def test_an_answer_the_cli_cannot_read_is_not_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"account_id": "acme", "pools": "not a mapping"})

    monkeypatch.setattr(remote, "TRANSPORT", httpx.MockTransport(answer))
    result = invoke("balance", "acme", "--base-url", "http://creditbook.test")
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: invalid_response: the server's answer: ")


def test_a_status_without_a_code_takes_the_sdks_code_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "Run not found."})

    monkeypatch.setattr(remote, "TRANSPORT", httpx.MockTransport(answer))
    result = invoke("runs", "show", "0" * 32, "--base-url", "http://creditbook.test")
    assert result.exit_code == 3
    assert one_error_line(result).startswith("error: not_found: Run not found.")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("foo://bar", "foo://bar: not a database creditbook knows"),
        ("notaurl", "not a database URL"),
        ("sqlite://", "use a SQLite file"),
    ],
)
def test_a_database_url_that_names_no_database_exits_2(url: str, says: str) -> None:
    result = invoke("balance", "acme", "--database-url", url)
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert line.startswith("error: usage: database URL: ") and says in line, line


def test_a_bad_database_urls_password_is_not_shown() -> None:
    result = invoke("balance", "acme", "--database-url", "foo://ann:hunter2@db.example/books")
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "foo://ann:***@db.example/books" in line and "hunter2" not in line


def test_an_export_file_that_cannot_be_written_exits_2_naming_it(
    mode: Mode, acme: str, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "out.csv"
    for output, reason in ((missing, "No such file or directory"), (tmp_path, "Is a directory")):
        result = mode.run("export", "transactions", acme, "-o", str(output))
        assert result.exit_code == 2, (output, result.output)
        assert one_error_line(result) == f"error: file_error: {output}: {reason}"
    assert not missing.parent.exists()


def _operator_keys(database_url: str) -> list[ApiKey]:
    ledger = Ledger.open(database_url)
    try:
        return ledger.list_keys(None)
    finally:
        ledger.close()


def test_init_that_cannot_write_its_pricing_file_issues_no_key(
    database_url: str, tmp_path: Path
) -> None:
    pricing = tmp_path / "missing" / "pricing.toml"
    result = invoke(
        "init", "--database-url", database_url, "--pricing", str(pricing), "--operator-key"
    )
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == f"error: file_error: {pricing}: No such file or directory"
    assert result.stdout == ""
    assert _operator_keys(database_url) == []


def test_init_that_cannot_write_its_config_file_issues_no_key(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CREDITBOOK_CONFIG under a regular file: its directory cannot be made."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = blocker / "config.toml"
    monkeypatch.setenv("CREDITBOOK_CONFIG", str(config))
    result = invoke("init", "--database-url", database_url, "--operator-key")
    assert result.exit_code == 2, result.output
    assert one_error_line(result) == (
        f"error: file_error: cannot write the config file {config}: {blocker}: File exists"
    )
    assert _operator_keys(database_url) == []
    # With the files writable, init issues the key and shows it.
    monkeypatch.setenv("CREDITBOOK_CONFIG", str(tmp_path / "config.toml"))
    issued = invoke("init", "--database-url", database_url, "--operator-key", "--json")
    assert issued.exit_code == 0, issued.output
    assert [key.scope for key in _operator_keys(database_url)] == ["operator"]


READ_COMMANDS = (
    ("balance", "acme"),
    ("transactions", "acme"),
    ("stats", "acme"),
    ("accounts", "list"),
    ("runs", "list", "acme"),
    ("verify",),
    ("export", "transactions", "acme"),
)


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c))
def test_a_read_command_creates_no_database_and_names_the_missing_one(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    result = invoke(*command)  # the default: sqlite:///creditbook.db in the working directory
    assert result.exit_code == 2, result.output
    line = one_error_line(result)
    assert line.startswith("error: usage: no database at sqlite:///creditbook.db"), line
    assert str(tmp_path / "creditbook.db") in line
    assert not (tmp_path / "creditbook.db").exists()


def test_a_missing_database_of_an_option_is_named_and_not_created(tmp_path: Path) -> None:
    result = invoke("balance", "acme", "--database-url", "sqlite:///books.db")
    assert result.exit_code == 2
    assert "no database at sqlite:///books.db" in one_error_line(result)
    assert "--database-url" in one_error_line(result)
    assert not (tmp_path / "books.db").exists()


def test_a_write_command_still_creates_the_database(tmp_path: Path, pricing_file: Path) -> None:
    result = invoke("apply", str(pricing_file))
    assert (tmp_path / "creditbook.db").exists(), result.output
    assert invoke("accounts", "list").exit_code == 0


def test_a_missing_postgres_database_is_named(postgres_database_url: str) -> None:
    url = postgres_database_url.rsplit("/", 1)[0] + "/creditbook_no_such_database"
    result = invoke("balance", "acme", "--database-url", url)
    assert result.exit_code == 7, result.output
    assert "creditbook_no_such_database" in one_error_line(result)

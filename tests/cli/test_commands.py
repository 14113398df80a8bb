"""Each command once, in local mode (on each database) and in remote mode (a live server)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tests.cli.conftest import Mode

from creditbook import Credits, Ledger


def test_a_walk_through_an_account(mode: Mode, acme: str) -> None:
    mode.ok("grant", acme, "25", "--source", "bonus", "--description", "Welcome")
    charge = mode.json("charge", acme, "43", "--description", "job 1")
    assert charge["amount"] == 43 and charge["account_id"] == acme
    priced = mode.json(
        "charge", acme, "--rate-card", "maps", "--function", "get_phone_numbers", "--quantity", "2"
    )
    assert priced["amount"] == 12
    balance = mode.json("balance", acme)
    assert balance["pools"]["credits"]["available"] == 100 + 25 - 43 - 12
    history = mode.json("transactions", acme)
    types = [t["type"] for t in history["data"]]
    assert types == ["DEDUCTION", "DEDUCTION", "BONUS", "MONTHLY_RESET"]
    accounts = mode.json("accounts", "list")
    assert [a["account_id"] for a in accounts["data"]] == [acme]
    shown = mode.json("accounts", "show", acme)
    assert shown["name"] == "Acme" and shown["plan_id"] == "starter"
    verify = mode.json("verify")
    assert verify["ok"] is True and verify["accounts"] == 1


def test_people_get_tables(mode: Mode, acme: str) -> None:
    mode.ok("charge", acme, "2.5", "--description", "half a job")
    balance = mode.ok("balance", acme).stdout
    assert "available" in balance and "97.5" in balance
    history = mode.ok("transactions", acme).stdout
    # On a narrow terminal the description wraps (the ids keep their width).
    assert "half a" in history and "job" in history and "-2.5" in history
    assert "acme" in mode.ok("accounts", "show", acme).stdout
    assert "ok" in mode.ok("verify").stdout


def test_the_default_account_comes_from_the_environment(mode: Mode, acme: str) -> None:
    result = mode.run("balance", "--json", env={"CREDITBOOK_ACCOUNT_ID": acme})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["account_id"] == acme
    missing = mode.run("balance")
    assert missing.exit_code == 2
    assert "give an account" in missing.stderr


def test_an_account_key_needs_no_account_against_a_server(mode: Mode, acme: str) -> None:
    """Against a server, account-scoped commands fall back to the account key's own account;
    a database has no key, so there the account must be named."""
    secret = mode.json("keys", "create", "--account", acme, "--scope", "write")["secret"]
    mode.ok("charge", acme, "3")
    own = {"CREDITBOOK_API_KEY": secret}
    if mode.name == "local":
        assert mode.run("balance", env=own).exit_code == 2
        return
    balance = json.loads(mode.run("balance", "--json", env=own).stdout)
    assert balance["account_id"] == acme
    assert Decimal(balance["pools"]["credits"]["available"]) == 97
    page = json.loads(mode.run("transactions", "--json", env=own).stdout)
    assert [Decimal(t["amount"]) for t in page["data"]] == [-3, 100]
    exported = mode.run("export", "transactions", "--format", "jsonl", env=own)
    assert exported.exit_code == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == 2


def test_transactions_page_by_cursor_and_all(mode: Mode, acme: str) -> None:
    for index in range(7):
        mode.ok("charge", acme, "1", "--description", f"call {index}")
    first = mode.json("transactions", acme, "--limit", "3")
    assert len(first["data"]) == 3 and first["has_more"] is True
    second = mode.json("transactions", acme, "--limit", "3", "--cursor", first["next_cursor"])
    assert [t["description"] for t in second["data"]] == ["call 3", "call 2", "call 1"]
    every = mode.json("transactions", acme, "--all", "--cursor", first["next_cursor"])
    assert len(every["data"]) == 4 + 1 and every["has_more"] is False  # and the reset
    people = mode.ok("transactions", acme, "--limit", "3").stdout
    assert f"--cursor {first['next_cursor']}" in people
    resets = mode.json("transactions", acme, "--type", "monthly_reset")
    assert [t["type"] for t in resets["data"]] == ["MONTHLY_RESET"]
    later = mode.json("transactions", acme, "--since", "2999-01-01T00:00:00Z")
    assert later["data"] == []


def test_runs_list_and_show(mode: Mode, acme: str) -> None:
    ledger = Ledger.open(mode.database_url)
    try:
        run = ledger.start_run(acme, "maps", hold=Credits.of(20))
        ledger.report_results(
            acme, run.run_id, rows_kept=5, functions={"get_phone_numbers": (5, 2)}
        )
    finally:
        ledger.close()
    runs = mode.json("runs", "list", acme)
    assert [r["run_id"] for r in runs["data"]] == [run.run_id]
    shown = mode.json("runs", "show", run.run_id)
    assert shown["run"]["status"] == "running"
    assert Decimal(str(shown["credits"]["total_credits"])) == 5 * 4 + 2 * 6
    people = mode.ok("runs", "show", run.run_id).stdout
    assert "32 credits, 5 results" in people and "get_phone_numbers" in people


def test_runs_list_pages_by_cursor_and_all(mode: Mode, acme: str) -> None:
    ledger = Ledger.open(mode.database_url)
    try:
        for _ in range(5):
            ledger.finish_run(acme, ledger.start_run(acme, "maps").run_id)
        newest_first = [r.run_id for r in ledger.runs(acme, limit=100).data]
    finally:
        ledger.close()
    first = mode.json("runs", "list", acme, "--limit", "2")
    assert [r["run_id"] for r in first["data"]] == newest_first[:2]
    assert first["has_more"] is True
    second = mode.json("runs", "list", acme, "--limit", "2", "--cursor", first["next_cursor"])
    assert [r["run_id"] for r in second["data"]] == newest_first[2:4]
    rest = mode.json("runs", "list", acme, "--all", "--cursor", first["next_cursor"])
    assert [r["run_id"] for r in rest["data"]] == newest_first[2:]
    assert (rest["has_more"], rest["next_cursor"]) == (False, None)
    every = mode.json("runs", "list", acme, "--all")
    assert [r["run_id"] for r in every["data"]] == newest_first
    people = mode.ok("runs", "list", acme, "--limit", "2").stdout
    assert f"--cursor {first['next_cursor']}" in people
    assert mode.run("runs", "list", acme, "--cursor", "garbage").exit_code == 2


def test_keys_create_and_revoke(mode: Mode, acme: str) -> None:
    issued = mode.json("keys", "create", "--account", acme, "--scope", "write", "--name", "ci")
    assert issued["secret"].startswith("cb_") and issued["scope"] == "write"
    revoked = mode.json("keys", "revoke", issued["key_id"])
    assert revoked["revoked_at"] is not None
    printed = mode.ok("keys", "create", "--account", acme).stdout.splitlines()
    assert printed[0].startswith("key_id: ") and printed[-1].startswith("cb_")


def test_operator_keys_are_issued_locally_only(mode: Mode) -> None:
    result = mode.run("keys", "create", "--operator")
    if mode.name == "local":
        assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1].startswith("cb_")
    else:
        assert result.exit_code == 2
        assert "local mode" in result.stderr


def test_ids_are_never_cut_on_80_columns(
    mode: Mode, acme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a narrow terminal the description wraps; a transaction id stays whole, copyable."""
    mode.ok("charge", acme, "2", "--description", "a long description of the job " * 3)
    ids = [t["transaction_id"] for t in mode.json("transactions", acme)["data"]]
    monkeypatch.setenv("COLUMNS", "80")
    history = mode.run("transactions", acme)
    assert history.exit_code == 0, history.stderr
    assert all(transaction_id in history.stdout for transaction_id in ids), history.stdout
    assert max(len(line) for line in history.stdout.splitlines()) <= 80

"""Response models read engine results by attribute: renamed fields, enums and Credits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from creditbook.domain.amounts import Credits
from creditbook.domain.grants import GrantSource
from creditbook.engine import results
from creditbook.wire import AccountOut, GrantOut, RunOut

AT = datetime(2026, 5, 1, tzinfo=UTC)


def test_an_account_answers_its_anchor_as_billing_anchor_at() -> None:
    account = results.Account("acme", "Acme", "pro", "UTC", AT, AT, metadata={"crm": "42"})
    out = AccountOut.model_validate(account)
    assert out.billing_anchor_at == AT
    assert out.model_dump()["metadata"] == {"crm": "42"}
    assert AccountOut.model_validate(out.model_dump(mode="json")) == out


def test_a_run_answers_its_charge_as_credits_and_no_hold_as_null() -> None:
    run = results.Run(
        "run_1",
        "acme",
        "maps",
        "running",
        1,
        "",
        ("no_phone",),
        "",
        "",
        10,
        {},
        Credits(6500),
        AT,
        None,
    )
    out = RunOut.model_validate(run)
    assert (out.credits, out.hold_id, out.active_filters) == (Decimal("6.5"), None, ["no_phone"])
    assert RunOut.model_validate(out.model_dump(mode="json")) == out


def test_enums_and_credits_become_plain_json_values() -> None:
    grant = results.Grant(
        "grant_1",
        "acme",
        "credits",
        GrantSource.TOP_UP,
        10,
        Credits(50_000),
        Credits(0),
        AT,
        None,
        "txn_1",
    )
    dumped = GrantOut.model_validate(grant).model_dump()
    assert type(dumped["source"]) is str
    assert dumped["source"] == "top_up"
    assert (dumped["amount"], dumped["remaining"]) == (Decimal(50), Decimal(0))

"""Every write takes one request value: built by hand, or from the façade's arguments."""

from __future__ import annotations

import pytest

from creditbook import Credits, FunctionRate, Ledger, Plan, RateCard
from creditbook.domain.requests import (
    ChargeBatchRequest,
    ChargeRequest,
    CreateKeyRequest,
    FinishRunRequest,
    GrantRequest,
    HoldRequest,
    OpenAccountRequest,
    RefundRequest,
    RunResultsRequest,
    Scope,
    StartRunRequest,
)

CARD = RateCard(
    "maps",
    Credits.of(4),
    functions={"get_phone_numbers": FunctionRate("get_phone_numbers", Credits.of(6))},
)


@pytest.fixture
def account(ledger: Ledger) -> str:
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(100)}, slots=2))
    ledger.put_rate_card(CARD)
    return ledger.open_account(OpenAccountRequest("plan", account_id="acme")).account_id


def test_a_request_value_and_the_same_fields_as_arguments_are_one_write(
    ledger: Ledger, account: str
) -> None:
    by_value = ledger.grant(
        GrantRequest(account, Credits.of(5), source="bonus", idempotency_key="g-1")
    )
    by_arguments = ledger.grant(account, Credits.of(5), source="bonus", idempotency_key="g-1")

    assert by_arguments.replayed
    assert by_arguments.grant_id == by_value.grant_id
    assert ledger.balance(account).pools["credits"].available == Credits.of(105)


def test_every_write_accepts_its_request_value(ledger: Ledger, account: str) -> None:
    charge = ledger.charge(ChargeRequest(account, amount=Credits.of(10)))
    ledger.refund(RefundRequest(account, charge.charge_id, Credits.of(4)))
    ledger.charge_batch(ChargeBatchRequest([ChargeRequest(account, amount=Credits.of(1))]))
    hold = ledger.hold(HoldRequest(account, Credits.of(3)))
    run = ledger.start_run(StartRunRequest(account, "maps"))
    ledger.report_results(
        RunResultsRequest(account, run.run_id, rows_kept=2, functions={"get_phone_numbers": (2, 1)})
    )
    finished = ledger.finish_run(FinishRunRequest(account, run.run_id))
    key = ledger.create_key(CreateKeyRequest(account, scope=Scope.WRITE))

    assert hold.amount == Credits.of(3)
    assert finished.charged == Credits.of(14)
    assert key.key.scope == Scope.WRITE
    # 100 - 10 + 4 - 1 - 14, with 3 held.
    assert ledger.balance(account).pools["credits"].available == Credits.of(76)
    assert ledger.verify().ok


def test_a_request_value_with_more_arguments_is_refused(ledger: Ledger, account: str) -> None:
    with pytest.raises(TypeError):
        ledger.grant(GrantRequest(account, Credits.of(5)), source="bonus")


def test_ping_answers_while_the_database_does(ledger: Ledger) -> None:
    ledger.ping()

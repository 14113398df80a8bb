"""Request bodies become the ledger's request values with exactly what the API passes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from creditbook.domain.amounts import Credits
from creditbook.domain.errors import ValidationError
from creditbook.domain.grants import GrantSource
from creditbook.domain.requests import (
    OPERATOR_SCOPE,
    ChangePlanRequest,
    ChargeBatchRequest,
    ChargeRequest,
    CreateKeyRequest,
    EstimateRequest,
    GrantRequest,
    OpenAccountRequest,
    RefundRequest,
    RunResultsRequest,
    Scope,
    StartRunRequest,
    UpdateAccountRequest,
)
from creditbook.wire import (
    AccountCreate,
    AccountPatch,
    BatchCreate,
    ChargeCreate,
    EstimateCreate,
    GrantCreate,
    KeyCreate,
    RefundCreate,
    ResultsCreate,
    RunCreate,
)

ANCHOR = datetime(2026, 5, 1, tzinfo=UTC)


def test_account_create() -> None:
    body = AccountCreate.model_validate(
        {
            "plan_id": "pro",
            "account_id": "acme",
            "name": "Acme",
            "timezone": "Europe/Paris",
            "billing_anchor_at": "2026-05-01T00:00:00Z",
            "metadata": {"crm": "42"},
        }
    )
    assert body.to_request(idempotency_key="k1") == OpenAccountRequest(
        plan_id="pro",
        account_id="acme",
        name="Acme",
        timezone="Europe/Paris",
        billing_anchor_at=ANCHOR,
        metadata={"crm": "42"},
        idempotency_key="k1",
    )


def test_account_create_defaults() -> None:
    body = AccountCreate.model_validate({"plan_id": "pro"})
    assert body.to_request() == OpenAccountRequest(plan_id="pro", metadata={})


def test_account_patch() -> None:
    body = AccountPatch.model_validate({"name": "Acme Inc.", "has_unpaid_bill": True})
    assert body.to_request("acme") == UpdateAccountRequest(
        account_id="acme", name="Acme Inc.", metadata=None, has_unpaid_bill=True
    )
    assert body.plan_request("acme") is None
    moved = AccountPatch.model_validate({"plan_id": "team", "metadata": {}})
    assert moved.plan_request("acme") == ChangePlanRequest(account_id="acme", plan_id="team")
    assert moved.to_request("acme") == UpdateAccountRequest(account_id="acme", metadata={})


def test_grant() -> None:
    body = GrantCreate.model_validate(
        {
            "amount": "10.5",
            "source": "top_up",
            "pool": "credits",
            "priority": 5,
            "expires_at": "2026-05-01T00:00:00Z",
            "description": "Top-up",
        }
    )
    assert body.to_request("acme", idempotency_key="k") == GrantRequest(
        account_id="acme",
        amount=Credits.of("10.5"),
        source=GrantSource.TOP_UP,
        pool="credits",
        priority=5,
        effective_at=None,
        expires_at=ANCHOR,
        description="Top-up",
        idempotency_key="k",
    )


def test_grant_amount_finer_than_a_millicredit_names_its_field() -> None:
    body = GrantCreate.model_validate({"amount": "0.0001"})
    with pytest.raises(ValidationError) as caught:
        body.to_request("acme")
    assert caught.value.field == "amount"


def test_charge_takes_the_callers_user_over_the_bodys() -> None:
    body = ChargeCreate.model_validate({"amount": 2.5, "description": "API call"})
    assert body.to_request("acme", user_id="u1", idempotency_key="k") == ChargeRequest(
        account_id="acme",
        amount=Credits.of("2.5"),
        user_id="u1",
        description="API call",
        idempotency_key="k",
    )
    named = ChargeCreate.model_validate(
        {"rate_card_id": "maps", "function": "get_phone_numbers", "quantity": 3, "user_id": "u2"}
    )
    # A key bound to a user wins: its charges are never attributed to another user.
    assert named.to_request("acme", user_id="u1") == ChargeRequest(
        account_id="acme",
        rate_card_id="maps",
        function="get_phone_numbers",
        quantity=3,
        user_id="u1",
    )
    # A caller bound to no user (the operator, an unbound key) lets the body say.
    assert named.to_request("acme") == ChargeRequest(
        account_id="acme",
        rate_card_id="maps",
        function="get_phone_numbers",
        quantity=3,
        user_id="u2",
    )


def test_batch_keys_its_items_by_index() -> None:
    body = BatchCreate.model_validate(
        {
            "items": [
                {"account_id": "acme", "amount": 1},
                {"account_id": "acme", "amount": 2, "idempotency_key": "own"},
            ]
        }
    )
    assert body.to_request(user_id="u1", idempotency_key="batch", scope="acme") == (
        ChargeBatchRequest(
            charges=[
                ChargeRequest(
                    account_id="acme",
                    amount=Credits.of(1),
                    user_id="u1",
                    idempotency_key="batch:0",
                ),
                ChargeRequest(
                    account_id="acme", amount=Credits.of(2), user_id="u1", idempotency_key="own"
                ),
            ],
            idempotency_key="batch",
            scope="acme",
        )
    )
    unkeyed = body.to_request()
    assert unkeyed.scope == OPERATOR_SCOPE
    assert [charge.idempotency_key for charge in unkeyed.charges] == [None, "own"]


def test_refund() -> None:
    whole = RefundCreate.model_validate({})
    assert whole.to_request("acme", "txn_1", idempotency_key="k") == RefundRequest(
        account_id="acme", charge_id="txn_1", amount=None, description="", idempotency_key="k"
    )
    part = RefundCreate.model_validate({"amount": 1, "description": "Goodwill"})
    assert part.to_request("acme", "txn_1") == RefundRequest(
        account_id="acme", charge_id="txn_1", amount=Credits.of(1), description="Goodwill"
    )


def test_key() -> None:
    body = KeyCreate.model_validate({"scope": "write", "user_id": "u1", "name": "backend"})
    assert body.to_request("acme", idempotency_key="k") == CreateKeyRequest(
        account_id="acme", scope=Scope.WRITE, user_id="u1", name="backend", idempotency_key="k"
    )
    assert KeyCreate().to_request("acme") == CreateKeyRequest(account_id="acme", scope="read")


def test_key_without_an_account_is_an_operator_key() -> None:
    body = KeyCreate.model_validate({"name": "ops"})
    assert body.to_request(None) == CreateKeyRequest(
        account_id=None, scope=Scope.OPERATOR, name="ops"
    )


def test_estimate_leaves_empty_mappings_to_the_ledger() -> None:
    body = EstimateCreate.model_validate({"rate_card_id": "maps", "rows": 100})
    assert body.to_request("acme") == EstimateRequest(
        account_id="acme",
        rate_card_id="maps",
        rows=100,
        functions=None,
        success_rates_percent=None,
        active_filters=(),
    )
    full = EstimateCreate.model_validate(
        {
            "rate_card_id": "maps",
            "rows": 100,
            "functions": {"get_phone_numbers": 100},
            "success_rates_percent": {"get_phone_numbers": 40},
            "active_filters": ["no_phone"],
        }
    )
    assert full.to_request("acme") == EstimateRequest(
        account_id="acme",
        rate_card_id="maps",
        rows=100,
        functions={"get_phone_numbers": 100},
        success_rates_percent={"get_phone_numbers": 40},
        active_filters=("no_phone",),
    )


def test_start_run() -> None:
    body = RunCreate.model_validate(
        {
            "account_id": "acme",
            "rate_card_id": "maps",
            "slots": 2,
            "hold": 40,
            "hold_timeout_s": 600,
            "active_filters": ["no_phone"],
            "resource_id": "list_1",
            "resource_name": "Dentists",
        }
    )
    assert body.to_request("acme", user_id="u1", idempotency_key="k") == StartRunRequest(
        account_id="acme",
        rate_card_id="maps",
        slots=2,
        hold=Credits.of(40),
        hold_timeout_s=600,
        active_filters=("no_phone",),
        user_id="u1",
        resource_id="list_1",
        resource_name="Dentists",
        idempotency_key="k",
    )


def test_start_run_defaults_and_the_callers_user_over_the_bodys() -> None:
    body = RunCreate.model_validate({"rate_card_id": "maps", "user_id": "u2"})
    assert body.to_request("acme", user_id="u1") == StartRunRequest(
        account_id="acme", rate_card_id="maps", hold=None, user_id="u1"
    )
    assert body.to_request("acme") == StartRunRequest(
        account_id="acme", rate_card_id="maps", hold=None, user_id="u2"
    )


def test_run_results() -> None:
    body = ResultsCreate.model_validate(
        {
            "rows_kept": 10,
            "rows_discarded": {"no_phone": 3},
            "functions": {"get_phone_numbers": {"attempts": 10, "successes": 4}},
        }
    )
    assert body.to_request("acme", "run_1", idempotency_key="k") == RunResultsRequest(
        account_id="acme",
        run_id="run_1",
        rows_kept=10,
        rows_discarded={"no_phone": 3},
        functions={"get_phone_numbers": (10, 4)},
        idempotency_key="k",
    )


def test_amounts_arrive_as_exact_decimals() -> None:
    body = ChargeCreate.model_validate({"amount": "0.125"})
    assert body.amount == Decimal("0.125")
    assert body.to_request("acme").amount == Credits(125)

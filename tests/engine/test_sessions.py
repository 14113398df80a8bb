"""Signed-out dashboard sessions (engine/sessions.py): recorded at sign-out, refused from
then on, forgotten once their cookie has expired anyway."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from creditbook import Credits, Ledger, ManualClock, NotFoundError, Plan, ValidationError
from creditbook.domain.requests import Scope
from creditbook.engine.keys import ApiKey
from creditbook.store import schema

LIFETIME_S = 8 * 3600
SESSION = "s" * 22
OTHER_SESSION = "t" * 22


@pytest.fixture
def account_key(ledger: Ledger) -> ApiKey:
    ledger.put_plan(Plan("plan", allowances={"credits": Credits.of(100)}))
    ledger.open_account("plan", account_id="acme")
    return ledger.create_key("acme", scope=Scope.READ).key


def ended_rows(ledger: Ledger) -> int:
    with ledger.engine.connect() as connection:
        table = schema.ended_sessions
        count: int = connection.execute(select(func.count()).select_from(table)).scalar_one()
        return count


def test_a_signed_out_session_stays_ended(ledger: Ledger, account_key: ApiKey) -> None:
    assert not ledger.is_session_ended(account_key, SESSION)
    ledger.end_session(account_key.key_id, SESSION, lifetime_s=LIFETIME_S)
    assert ledger.is_session_ended(account_key, SESSION)
    assert not ledger.is_session_ended(account_key, OTHER_SESSION)
    # Signing out twice (two tabs) changes nothing.
    ledger.end_session(account_key.key_id, SESSION, lifetime_s=LIFETIME_S)
    assert ended_rows(ledger) == 1


def test_operator_sessions_end_too(ledger: Ledger) -> None:
    operator = ledger.create_key(None, scope=Scope.OPERATOR).key
    ledger.end_session(operator.key_id, SESSION, lifetime_s=LIFETIME_S)
    assert ledger.is_session_ended(operator, SESSION)


def test_records_are_dropped_once_the_cookie_has_expired(
    ledger: Ledger, account_key: ApiKey, clock: ManualClock
) -> None:
    ledger.end_session(account_key.key_id, SESSION, lifetime_s=LIFETIME_S)
    clock.advance(seconds=LIFETIME_S - 1)
    ledger.end_session(account_key.key_id, OTHER_SESSION, lifetime_s=LIFETIME_S)
    assert ended_rows(ledger) == 2  # the first cookie could still be accepted
    clock.advance(seconds=2)
    ledger.end_session(account_key.key_id, "u" * 22, lifetime_s=LIFETIME_S)
    assert ended_rows(ledger) == 2
    assert not ledger.is_session_ended(account_key, SESSION)  # its cookie has expired


def test_end_session_refuses_bad_arguments(ledger: Ledger, account_key: ApiKey) -> None:
    with pytest.raises(NotFoundError):
        ledger.end_session("key_0000000000000000", SESSION, lifetime_s=LIFETIME_S)
    for bad in ("", "short", "s" * 65, "not/url/safe/" + "s" * 10):
        with pytest.raises(ValidationError):
            ledger.end_session(account_key.key_id, bad, lifetime_s=LIFETIME_S)
    for lifetime_s in (0, 8 * 24 * 3600):
        with pytest.raises(ValidationError):
            ledger.end_session(account_key.key_id, SESSION, lifetime_s=lifetime_s)
    assert ended_rows(ledger) == 0

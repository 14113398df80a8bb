"""An HTTP charge costs one database transaction: the caller's key is answered from the
process's short-lived key cache, and a revocation through this process applies at once."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, event
from tests.api.conftest import Api, bearer

from creditbook import Ledger
from creditbook.engine.key_cache import KeyCache
from creditbook.engine.keys import parse


@pytest.fixture
def transactions(ledger: Ledger) -> Iterator[list[int]]:
    """Counts the transactions the ledger's engine begins from now on."""
    seen: list[int] = []

    def on_begin(connection: Connection) -> None:
        seen.append(1)

    event.listen(ledger.engine, "begin", on_begin)
    yield seen
    event.remove(ledger.engine, "begin", on_begin)


def test_a_charge_is_one_transaction(api: Api, transactions: list[int]) -> None:
    keys = api.account("acme")
    charge = {"amount": 1}
    api.ok("POST", "/v1/accounts/acme/charges", json=charge, headers=bearer(keys.write))
    transactions.clear()
    for _ in range(3):
        api.ok("POST", "/v1/accounts/acme/charges", json=charge, headers=bearer(keys.write))
    assert len(transactions) == 3


def test_revoking_through_this_process_applies_at_once(api: Api) -> None:
    keys = api.account("acme")
    api.ok("GET", "/v1/accounts/acme/balance", headers=bearer(keys.read))
    key_id = api.ok("GET", "/v1/api_keys/current", headers=bearer(keys.read))["key_id"]
    api.ok("DELETE", f"/v1/api_keys/{key_id}")
    response = api.client.get("/v1/accounts/acme/balance", headers=bearer(keys.read))
    assert response.status_code == 403
    assert response.json()["code"] == "key_revoked"


def test_revoked_elsewhere_applies_within_the_lifetime(ledger: Ledger) -> None:
    """Another process's revocation (here: another Ledger on the database) is seen once
    the cached entry is older than the lifetime, never later."""
    issued = ledger.create_key(None, scope="operator")
    assert issued.secret is not None
    lifetime_s = 2.0  # long enough that a busy machine does not end it before the revocation
    cached = Ledger(ledger.engine, ledger.clock, key_cache_s=lifetime_s)
    other = Ledger(ledger.engine, ledger.clock)
    assert cached.authenticate(issued.secret).key_id == issued.key.key_id
    other.revoke_key(issued.key.key_id)
    revoked_at = time.monotonic()
    assert cached.authenticate(issued.secret).revoked_at is None  # still remembered
    deadline = revoked_at + lifetime_s + 0.05
    while True:
        try:
            cached.authenticate(issued.secret)
        except Exception as error:
            assert type(error).__name__ == "KeyRevokedError"
            break
        assert time.monotonic() < deadline, "the revocation outlived the cache lifetime"
        time.sleep(0.01)


def test_the_cache_holds_only_the_right_token(ledger: Ledger) -> None:
    issued = ledger.create_key(None, scope="operator")
    assert issued.secret is not None
    cache = KeyCache(10.0)
    cache.put(issued.secret, issued.key, time.monotonic())
    assert cache.take(issued.secret) == issued.key
    # Same key id, another secret (with a valid checksum): not answered from memory.
    forged = ledger.create_key(None, scope="operator").secret
    assert forged is not None
    body = issued.secret[:20] + forged[20:52]  # cb_<key id>_ and another secret
    same_id = f"{body}_{zlib.crc32(body.encode()):08x}"
    assert parse(same_id) == issued.key.key_id
    assert cache.take(same_id) is None and cache.answer(same_id) == (None, False)
    assert KeyCache(0.0).take(issued.secret) is None
    with pytest.raises(ValueError, match="must not be negative"):
        KeyCache(-1.0)

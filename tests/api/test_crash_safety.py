"""Two real server processes on each database, with group commit on:

- kill -9 of a server under load loses no acknowledged charge and applies none twice,
  when clients retry every charge with its idempotency key until it is acknowledged;
- a key revoked through one process stops working on the other within the key cache's
  lifetime.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.api.test_multiprocess import REQUEST_TIMEOUT_S, Server, StartServers
from tests.api.test_multiprocess import start_servers as start_servers  # a fixture

from creditbook import Credits, Ledger, Plan
from creditbook.domain.alerts import AlertRule
from creditbook.domain.requests import Scope
from creditbook.store.database import make_engine

pytestmark = pytest.mark.slow

CLIENTS = 8
CHARGES_EACH = 40
KILLS = 3
RUN_TIMEOUT_S = 120.0
KEY_CACHE_S = 1.0


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """On the servers' clock (the system's), not the tests' manual one."""
    ledger = Ledger(make_engine(database_url))
    try:
        yield ledger
    finally:
        ledger.close()


class Fleet:
    """The live servers; a killed one is replaced by a fresh process."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.lock = threading.Lock()

    def url(self, turn: int) -> str:
        with self.lock:
            return self.servers[turn % len(self.servers)].base_url

    def kill_one(self, start: StartServers, database_url: str) -> None:
        with self.lock:
            victim = self.servers.pop(random.randrange(len(self.servers)))
        victim.process.kill()  # SIGKILL: no shutdown, no flush, no answer in flight
        victim.process.wait(timeout=10)
        (fresh,) = start(database_url, count=1)
        with self.lock:
            self.servers.append(fresh)


def _charge_until_acknowledged(
    http: httpx.Client, fleet: Fleet, path: str, headers: dict[str, str], key: str, turn: int
) -> str:
    """POST the charge, again with the same idempotency key after any failure, until it is
    acknowledged; its charge id."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        assert time.monotonic() < deadline, f"charge {key} never acknowledged"
        try:
            response = http.post(
                fleet.url(turn) + path,
                json={"amount": 1},
                headers={**headers, "Idempotency-Key": key},
            )
        except httpx.TransportError:
            turn += 1
            time.sleep(0.02)
            continue
        if response.status_code >= 500:
            turn += 1
            continue
        assert response.status_code in (200, 201), response.text
        return str(response.json()["charge_id"])


def test_kill_9_under_load_loses_and_doubles_nothing(
    database_url: str, ledger: Ledger, start_servers: StartServers
) -> None:
    total = CLIENTS * CHARGES_EACH
    plan = ledger.put_plan(Plan("crash", allowances={"credits": Credits.of(total * 10)}))
    account_id = ledger.open_account(plan.plan_id, account_id="crash").account_id
    # Thresholds the charges cross (all but the last): each crossing's event commits with it.
    thresholds = [total * 10 - total // 4 * step for step in (1, 2, 3, 5)]
    ledger.set_alerts(account_id, [AlertRule("credits", credits=Credits.of(t)) for t in thresholds])
    secret = ledger.create_key(None, scope=Scope.OPERATOR).secret
    assert secret is not None
    headers = {"Authorization": f"Bearer {secret}"}
    fleet = Fleet(start_servers(database_url, count=2))
    path = f"/v1/accounts/{account_id}/charges"
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with httpx.Client(timeout=REQUEST_TIMEOUT_S) as http:
                for number in range(CHARGES_EACH):
                    key = f"c{index}-{number}"
                    charge_id = _charge_until_acknowledged(
                        http, fleet, path, headers, key, index + number
                    )
                    with lock:
                        acknowledged[key] = charge_id
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    kills = 0
    while kills < KILLS and any(thread.is_alive() for thread in threads):
        time.sleep(random.uniform(0.2, 0.6))
        fleet.kill_one(start_servers, database_url)
        kills += 1
    for thread in threads:
        thread.join(timeout=RUN_TIMEOUT_S)
    assert not any(thread.is_alive() for thread in threads), "client threads did not finish"
    assert not errors, errors[0]
    assert kills >= 1, "the clients finished before the first kill"

    assert len(acknowledged) == total
    assert len(set(acknowledged.values())) == total
    charged = Credits.of(total * 10) - ledger.balance(account_id).pools["credits"].available
    assert charged == Credits.of(total)  # none lost, none twice
    report = ledger.verify(account_id)
    assert report.ok, report.differences
    # One balance.low per threshold crossed, none lost, none twice, numbered without a gap.
    events = ledger.events(account_id=account_id, limit=100).data
    assert sorted(e.sequence for e in events) == list(range(1, len(events) + 1))
    lows = sorted(int(e.body()["data"]["threshold"]) for e in events if e.type == "balance.low")
    assert lows == sorted(thresholds[:3])
    assert [e.type for e in events if e.type != "balance.low"] == []
    # Every acknowledged answer is the one that committed: a replay gives the same charge.
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as http:
        for key, charge_id in random.sample(sorted(acknowledged.items()), 40):
            assert _charge_until_acknowledged(http, fleet, path, headers, key, 0) == charge_id


def test_revocation_reaches_the_other_process_within_the_cache_lifetime(
    database_url: str, ledger: Ledger, start_servers: StartServers
) -> None:
    ledger.put_plan(Plan("keys", allowances={"credits": Credits.of(10)}))
    account_id = ledger.open_account("keys", account_id=f"k{secrets.token_hex(3)}").account_id
    operator = ledger.create_key(None, scope=Scope.OPERATOR).secret
    issued = ledger.create_key(account_id, scope=Scope.READ)
    assert operator is not None and issued.secret is not None
    first, second = start_servers(database_url, count=2, CREDITBOOK_KEY_CACHE_S=str(KEY_CACHE_S))
    path = f"/v1/accounts/{account_id}/balance"
    key = {"Authorization": f"Bearer {issued.secret}"}
    for server in (first, second):  # each process now remembers the key
        assert httpx.get(server.base_url + path, headers=key).status_code == 200
    revoke = httpx.delete(
        f"{first.base_url}/v1/api_keys/{issued.key.key_id}",
        headers={"Authorization": f"Bearer {operator}"},
    )
    revoked_at = time.monotonic()
    assert revoke.status_code == 200, revoke.text
    assert httpx.get(first.base_url + path, headers=key).status_code == 403  # at once here
    while True:
        status = httpx.get(second.base_url + path, headers=key).status_code
        elapsed = time.monotonic() - revoked_at
        if status == 403:
            break
        assert status == 200
        assert elapsed < KEY_CACHE_S + 0.25, "the revocation outlived the key cache"
        time.sleep(0.02)

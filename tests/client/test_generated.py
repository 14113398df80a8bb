"""The async resources are generated from the sync ones, and the committed file is what the
generator writes (`python scripts/generate_async.py` rewrites it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_async", ROOT / "scripts" / "generate_async.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_async_resources_are_generated(script: ModuleType) -> None:
    assert [source.name for source, _ in script.PAIRS] == ["_resources.py", "_payments.py"]
    for source, target in script.PAIRS:
        committed = target.read_text(encoding="utf-8")
        generated = script.generate(source.read_text(encoding="utf-8"), source.name)
        assert committed == generated, "run `python scripts/generate_async.py`"
        assert committed.startswith(script.header(source.name))
    assert script.main(["--check"]) == 0


SYNC = '''\
"""Resources."""

from creditbook.client.pagination import Page, Pager

if TYPE_CHECKING:
    from creditbook.client._client import Client


class Things(Resource):
    def get(self, thing_id: str) -> ThingOut:
        """Ask the `Client` for a thing."""
        return self._client._send(calls.get_thing(thing_id))

    def list(self, account_id: str | None = None) -> Pager[ThingOut]:
        self._client._resolve_account_now(account_id)
        client = self._client

        def fetch(cursor: str | None) -> Page[ThingOut]:
            account = client._account(account_id)
            return Page.of(client._send(calls.list_things(account, cursor)))

        return Pager(fetch)
'''

ASYNC_BODY = '''\

from creditbook.client.pagination import AsyncPager, Page

if TYPE_CHECKING:
    from creditbook.client._client import AsyncClient


class Things(Resource):
    async def get(self, thing_id: str) -> ThingOut:
        """Ask the `Client` for a thing."""
        return await self._client._send(calls.get_thing(thing_id))

    def list(self, account_id: str | None = None) -> AsyncPager[ThingOut]:
        self._client._resolve_account_now(account_id)
        client = self._client

        async def fetch(cursor: str | None) -> Page[ThingOut]:
            account = await client._account(account_id)
            return Page.of(await client._send(calls.list_things(account, cursor)))

        return AsyncPager(fetch)
'''


def test_the_rules(script: ModuleType) -> None:
    """I/O calls are awaited, only functions that await are async (a list method returns
    its pager at once), names are swapped outside strings, imports stay sorted."""
    assert script.generate(SYNC) == script.HEADER + ASYNC_BODY


@pytest.mark.parametrize(
    "source",
    [
        '"""Doc."""\nfetch = lambda client: client._send(call)\n',
        '"""Doc."""\nclient._send(call)\n',
        '"""Doc."""\nasync def get(client):\n    return await client._send(call)\n',
        "fetch = 1\n",
    ],
    ids=["lambda", "module-level", "async-source", "no-docstring"],
)
def test_sources_the_rules_cannot_convert_are_refused(script: ModuleType, source: str) -> None:
    with pytest.raises(script.GenerateError):
        script.generate(source)

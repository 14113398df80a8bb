"""Credit packs: versioned pricing, like plans and rate cards."""

from __future__ import annotations

from sqlalchemy import Connection

from creditbook.domain.errors import NotFoundError
from creditbook.domain.payments import CreditPack
from creditbook.engine.context import Context
from creditbook.store.queries import payments as queries


def put_pack(context: Context, pack: CreditPack) -> CreditPack:
    body = pack.to_body()
    context.run(lambda connection: queries.put_pack(connection, pack.pack_id, body, context.now()))
    return pack


def pack_of(connection: Connection, pack_id: str) -> CreditPack:
    body = queries.pack_body(connection, pack_id)
    if body is None:
        raise NotFoundError("credit pack", pack_id)
    return CreditPack.from_body(body)


def get_pack(context: Context, pack_id: str) -> CreditPack:
    return context.run(lambda connection: pack_of(connection, pack_id), read_only=True)


def list_packs(context: Context) -> list[CreditPack]:
    bodies = context.run(queries.pack_bodies, read_only=True)
    return [CreditPack.from_body(body) for body in bodies]

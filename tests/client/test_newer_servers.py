"""A newer server may add response fields: the SDK's models ignore what they do not know.
Request bodies stay strict (the server refuses unknown fields with 422)."""

from __future__ import annotations

import typing
from typing import Any

import httpx
import pydantic
import pytest
from tests.client.conftest import BASE_URL

from creditbook.client import Client, models
from creditbook.wire.plans import PlanBody
from creditbook.wire.rate_cards import RateCardBody

REQUEST_MODELS = {"BatchItem"}  # re-exported to build batches with; a request body


def _models(annotation: Any) -> typing.Iterator[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from _models(argument)


def _reachable(model: type[pydantic.BaseModel], seen: set[type[pydantic.BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        for inner in _models(field.annotation):
            _reachable(inner, seen)


def test_no_response_model_forbids_unknown_fields() -> None:
    seen: set[type[pydantic.BaseModel]] = set()
    for name in models.__all__:
        if name not in REQUEST_MODELS:
            _reachable(getattr(models, name), seen)
    forbidding = sorted(m.__name__ for m in seen if m.model_config.get("extra") == "forbid")
    assert forbidding == []


PLAN = {
    "plan_id": "pro",
    "name": "Pro",
    "interval": "monthly",
    "allowances": {"credits": 100},
    "rollover": {"cap": None, "cap_percent": 50, "expires_after_periods": 1, "new": 1},
    "slots": 3,
    "prices": {},
    "display_currency": None,
    "overdraft": 0,
    "price_id": "",
    "rate_limit_per_s": None,
    "rate_limit_burst": None,
    "added_by_a_newer_server": {"anything": True},
}
CARD = {
    "rate_card_id": "maps",
    "credits_per_row": 4,
    "base_label": None,
    "base_colors": {"bg_color": "#EEF2F7", "txt_color": "#62748A", "border": "#000"},
    "pool": "credits",
    "functions": {
        "phones": {
            "credits_per_success": 6,
            "pool": "credits",
            "colors": {"bg_color": "#EEF2F7", "txt_color": "#62748A", "hover": "#fff"},
            "tier": "gold",
        }
    },
    "filters": {"geo": {"display": "Geo", "credits_per_row": 1, "order": 2}},
    "module": "",
    "service": "",
    "since": "2026",
}


def test_the_sdk_reads_answers_with_fields_it_does_not_know() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/plans":
            return httpx.Response(200, json={"data": [PLAN], "total": 1})
        return httpx.Response(200, json={"data": [CARD]})

    client = Client(api_key="k", base_url=BASE_URL, transport=httpx.MockTransport(answer))
    with client:
        (plan,) = list(client.plans.list())
        (card,) = list(client.rate_cards.list())
    assert plan.plan_id == "pro" and plan.rollover is not None
    assert plan.rollover.cap_percent == 50
    assert card.functions["phones"].credits_per_success == 6
    assert card.filters["geo"].display == "Geo"


def test_request_bodies_still_refuse_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        PlanBody.model_validate({"allowances": {"credits": 1}, "typo": 1})
    with pytest.raises(pydantic.ValidationError):
        RateCardBody.model_validate({"credits_per_row": 1, "base_colors": {"bg": "#fff"}})

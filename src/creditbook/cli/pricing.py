"""Pricing as code: plans, rate cards and credit packs declared in a TOML or YAML file.

    [plans.starter]                      # plans:
    name = "Starter"                     #   starter:
    allowances = { credits = 100 }       #     name: Starter
                                         #     allowances: {credits: 100}
    [rate_cards.maps]                    # rate_cards:
    credits_per_row = 4                  #   maps:
                                         #     credits_per_row: 4
    [packs.credits-1000]                 # packs:
    credits = 1000                       #   credits-1000:
    prices = { usd = 900 }               #     credits: 1000
                                         #     prices: {usd: 900}

Each entry is validated with the API's own request models (`PlanBody`, `RateCardBody`,
`CreditPackBody`), so a file that loads here is one the server accepts. `diff` compares the
file with what is live, field by field; applying writes only what is added or changed, so a
second apply is a no-op.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from creditbook.cli.backend import Backend, Json
from creditbook.cli.errors import CliError
from creditbook.domain.errors import CreditbookError
from creditbook.wire.common import Id
from creditbook.wire.payments import CreditPackBody, CreditPackOut
from creditbook.wire.plans import PlanBody
from creditbook.wire.rate_cards import RateCardBody

SECTIONS = ("plans", "rate_cards", "packs")
MAX_FILE_BYTES = 1_048_576
MAX_ITEMS = 1000
Kind = Literal["plan", "rate_card", "pack"]
Status = Literal["added", "changed", "unchanged"]
_ID = pydantic.TypeAdapter(Id)


@dataclass(frozen=True, slots=True)
class Pricing:
    """A validated pricing file. Attributes: plans, rate_cards and (credit) packs by id,
    in file order."""

    plans: dict[str, PlanBody]
    rate_cards: dict[str, RateCardBody]
    packs: dict[str, CreditPackBody] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One differing field (dotted path) with its live and its declared value."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Change:
    """What applying does to one plan, rate card or credit pack.

    Attributes:
        kind: `plan`, `rate_card` or `pack`.
        id: its id.
        status: `added` (not live yet), `changed` or `unchanged`.
        fields: the differing fields (every declared field when added).
    """

    kind: Kind
    id: str
    status: Status
    fields: list[FieldChange] = field(default_factory=list)


def _decimals(value: Any) -> Any:
    """YAML numbers with a fraction arrive as floats: make them exact (`0.1`, not 0.1000…)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _decimals(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decimals(item) for item in value]
    return value


def read(path: Path) -> dict[str, Any]:
    """The file's raw mapping: TOML by `.toml`, YAML by `.yaml`/`.yml`."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CliError("validation_error", f"{path}: larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text()
    except OSError as error:
        raise CliError("file_error", f"cannot read {path}: {error.strerror}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text, parse_float=Decimal)
        elif suffix in (".yaml", ".yml"):
            data = _decimals(yaml.safe_load(text))
        else:
            raise CliError("usage", f"{path}: a pricing file is .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        message = " ".join(str(error).split())
        raise CliError("malformed_request", f"{path}: {message}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CliError("validation_error", f"{path}: the top level must be a mapping")
    return data


def _location(prefix: str, error: Any) -> str:
    return ".".join([prefix, *(str(part) for part in error["loc"])])


def parse(data: dict[str, Any], source: str = "pricing") -> Pricing:
    """Validate every entry; report every problem at once (`validation_error`)."""
    problems: list[str] = []
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        problems.append(f"unknown sections {', '.join(unknown)} (expected {', '.join(SECTIONS)})")
    parsed: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for section in SECTIONS:
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            problems.append(f"{section}: a mapping of id to fields expected")
            continue
        if len(entries) > MAX_ITEMS:
            problems.append(f"{section}: more than {MAX_ITEMS} entries")
            continue
        for identifier, body in entries.items():
            where = f"{section}.{identifier}"
            try:
                _ID.validate_python(identifier)
            except pydantic.ValidationError:
                problems.append(f"{where}: not a valid id (a-z, 0-9, _.:- ; at most 64)")
            model = _entry(section, identifier, body, where, problems)
            if model is not None:
                parsed[section][identifier] = model
    if problems:
        raise CliError("validation_error", f"{source}: " + "; ".join(problems))
    return Pricing(parsed["plans"], parsed["rate_cards"], parsed["packs"])


MODELS: dict[str, type[pydantic.BaseModel]] = {
    "plans": PlanBody,
    "rate_cards": RateCardBody,
    "packs": CreditPackBody,
}


def _entry(
    section: str, identifier: str, body: Any, where: str, problems: list[str]
) -> pydantic.BaseModel | None:
    """One entry validated as the API validates it; None (and its problems noted) if not."""
    try:
        model = MODELS[section].model_validate(body)
    except pydantic.ValidationError as error:
        problems.extend(f"{_location(where, e)}: {e['msg']}" for e in error.errors())
        return None
    try:
        # The domain's own checks (currency codes, pools, ...), as the API runs them.
        if isinstance(model, PlanBody):
            model.to_plan(identifier)
        elif isinstance(model, RateCardBody):
            model.to_card(identifier)
        elif isinstance(model, CreditPackBody):
            model.to_pack(identifier)
    except (CreditbookError, ValueError) as error:
        problems.append(f"{where}: {error}")
        return None
    return model


def load(path: Path) -> Pricing:
    return parse(read(path), str(path))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def compare(kind: Kind, identifier: str, declared: Json, live: Json | None) -> Change:
    after = _flatten(declared)
    if live is None:
        return Change(
            kind, identifier, "added", [FieldChange(k, None, v) for k, v in after.items()]
        )
    before = _flatten(live)
    fields = [
        FieldChange(name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
    return Change(kind, identifier, "changed" if fields else "unchanged", fields)


def _normal(model: type[pydantic.BaseModel], live: Json, id_field: str) -> Json:
    """A live object as the request model would declare it (its id left out)."""
    body = {key: value for key, value in live.items() if key != id_field}
    dumped: Json = model.model_validate(body).model_dump(mode="python")
    return dumped


def _declared_pack(pack_id: str, body: CreditPackBody) -> Json:
    """A declared pack as the ledger stores it (currencies lowercase, the name defaulting to
    the id), so that only real differences show."""
    stored = CreditPackOut.model_validate(body.to_pack(pack_id)).model_dump(mode="python")
    return _normal(CreditPackBody, stored, "pack_id")


def diff(backend: Backend, pricing: Pricing) -> list[Change]:
    """What applying `pricing` would change, entry by entry."""
    live_plans = {p["plan_id"]: _normal(PlanBody, p, "plan_id") for p in backend.list_plans()}
    live_cards = {
        c["rate_card_id"]: _normal(RateCardBody, c, "rate_card_id")
        for c in backend.list_rate_cards()
    }
    changes = [
        compare("plan", plan_id, body.model_dump(mode="python"), live_plans.get(plan_id))
        for plan_id, body in pricing.plans.items()
    ]
    changes += [
        compare("rate_card", card_id, body.model_dump(mode="python"), live_cards.get(card_id))
        for card_id, body in pricing.rate_cards.items()
    ]
    if pricing.packs:
        live_packs = {
            p["pack_id"]: _normal(CreditPackBody, p, "pack_id") for p in backend.list_packs()
        }
        changes += [
            compare("pack", pack_id, _declared_pack(pack_id, body), live_packs.get(pack_id))
            for pack_id, body in pricing.packs.items()
        ]
    return changes


def apply(backend: Backend, pricing: Pricing, changes: list[Change]) -> None:
    """Write what `changes` says is added or changed (plans first: nothing depends on
    rate cards or packs, and accounts opened later need their plan)."""
    for change in changes:
        if change.status == "unchanged":
            continue
        if change.kind == "plan":
            backend.put_plan(change.id, pricing.plans[change.id])
        elif change.kind == "rate_card":
            backend.put_rate_card(change.id, pricing.rate_cards[change.id])
        else:
            backend.put_pack(change.id, pricing.packs[change.id])


STARTER = """\
# creditbook pricing: plans, rate cards and credit packs, applied with
# `creditbook apply pricing.toml`. Fields are those of PUT /v1/plans/{plan_id},
# PUT /v1/rate_cards/{rate_card_id} and PUT /v1/credit_packs/{pack_id}.
# `creditbook apply --dry-run pricing.toml` shows what would change.

[plans.starter]
name = "Starter"
interval = "monthly"
allowances = { credits = 1000 }
slots = 1
prices = { USD = 19 }

[plans.pro]
name = "Professional"
interval = "monthly"
allowances = { credits = 10000 }
rollover = { cap_percent = 50, expires_after_periods = 1 }
slots = 3
prices = { USD = 99 }

[rate_cards.maps]
credits_per_row = 4
base_label = "Export Listings"
module = "scraper"

[rate_cards.maps.functions.get_phone_numbers]
credits_per_success = 6

# Credits sold through Stripe Checkout (`creditbook buy`), prices in minor units (cents):
# [packs.credits-1000]
# name = "1,000 credits"
# credits = 1000
# prices = { usd = 900 }
# expires_after_months = 12
"""

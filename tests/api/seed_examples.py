"""The example responses printed on the five vendor pages creditbook serves."""

from __future__ import annotations

import json
from typing import Any

LOBSTR_RUN_CREDITS: dict[str, Any] = {
    "run_id": "0393be3ea6f74986906153df1c3f9894",
    "total_credits": 116,
    "total_results": 20,
    "breakdown": [
        {"function": "base", "credits": 80, "attempts": 20},
        {"function": "get_phone_numbers", "credits": 36, "attempts": 20},
    ],
    "rates": {"credits_per_row": 4, "get_phone_numbers": 6},
    "function_colors": {
        "Export Listings (No Phone)": {"bg_color": "#EAFBF3", "txt_color": "#0F9F5F"},
        "get_phone_numbers": {"bg_color": "#EEF2F7", "txt_color": "#62748A"},
    },
    "base_function_label": "Export Listings (No Phone)",
    "filter_breakdown": [],
}

LOBSTR_BALANCE: dict[str, Any] = {
    "id": "price_abc123",
    "object": "plan",
    "name": "Professional",
    "available": 10000,
    "consumed": 1550,
    "bonus_credit": 0,
    "rollover_credit": 200,
    "rollover_credit_expires_at": None,
    "interval": "monthly",
    "used_slots": 3,
    "total_available_slots": 20,
    "has_unpaid_bill": False,
    "reset_time": "2025-02-01T00:00:00Z",
}

LOCALLEADS_BALANCE: dict[str, Any] = {
    "success": True,
    "data": {
        "monthlyCredits": 100,
        "bonusCredits": 25,
        "usedCredits": 43,
        "availableCredits": 82,
        "resetDay": 1,
        "lastResetAt": "2026-05-01T00:00:00.000Z",
    },
}

LOCALLEADS_TRANSACTIONS: dict[str, Any] = {
    "success": True,
    "data": [
        {
            "id": "txn_abc123",
            "type": "DEDUCTION",
            "amount": -12,
            "description": "Lead search: Dentists in Austin, TX (97 results)",
            "createdAt": "2026-05-05T10:01:00.000Z",
        },
        {
            "id": "txn_def456",
            "type": "MONTHLY_RESET",
            "amount": 100,
            "description": "Monthly credit reset",
            "createdAt": "2026-05-01T00:00:00.000Z",
        },
    ],
    "meta": {"total": 28, "limit": 50, "offset": 0},
}

CLODURA_SEPARATE: dict[str, Any] = {
    "contactsView": 142,
    "maxContacts": "1000",
    "directDials": 38,
    "maxDirectDials": 200,
}

CATALOGUE_STATS: dict[str, Any] = {
    "period": {"from": "2025-01-01", "to": "2025-03-31"},
    "summary": {
        "total_spent": 4200,
        "previous_period_spent": 3800,
        "previous_period_change_pct": 10.5,
        "monthly_allocation": 50000,
        "period_end": "2025-04-18T00:00:00.000Z",
        "cost_per_credit": {
            "amount": 0.02,
            "currency": "EUR",
            "monthly_fee": 1000,
            "monthly_credits": 50000,
        },
    },
    "daily": [
        {
            "date": "2025-01-01",
            "total": 120,
            "by_module": {"lasso": 120},
            "by_user": {"5f0e...": 120},
        }
    ],
    "by_module": [{"module_key": "lasso", "total": 3000}],
    "by_service": [{"service_type": "ai_field", "total": 1500}],
    "by_user": [{"user_id": "5f0e...", "total": 800}],
    "lasso": {
        "credits_spent": 3000,
        "products_enhanced": 450,
        "credits_per_product": 6.67,
        "by_table": [
            {"table_id": "9b81...", "name": "Summer catalog", "total": 800, "products": 120}
        ],
    },
    "currency_config": {
        "monthly_fee_czk": 25000,
        "monthly_fee_eur": 1000,
        "monthly_credits": 50000,
        "auto_eur": False,
    },
}


def assert_same_json(actual: Any, expected: Any) -> None:
    """Equal values written the same way: `116` where the page writes 116, not `116.0`
    (Python's `==` would let an integer and a float with the same value pass)."""
    assert actual == expected
    assert json.dumps(actual, sort_keys=True) == json.dumps(expected, sort_keys=True)


def json_type(value: Any) -> str:
    """The JSON type of a parsed value; integers and decimals are both numbers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# Objects whose keys are data (module names, user ids, function names), not field names.
KEYED_BY_DATA = frozenset({"by_module", "by_user", "rates", "function_colors"})


def same_shape(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Differences in keys and types between a page's example and a response.

    Objects must have the same keys, except objects keyed by data, whose values are compared
    against the example's first value; arrays are compared element-wise against the
    example's first element (examples list one representative item). Where an example
    shows null, the pages document the field as "string | null": either is accepted.
    """
    if expected is None and json_type(actual) in ("null", "string"):
        return []
    if json_type(expected) != json_type(actual):
        return [f"{path}: {json_type(expected)} expected, got {json_type(actual)}"]
    if isinstance(expected, dict) and path.rsplit(".", 1)[-1] in KEYED_BY_DATA:
        sample = next(iter(expected.values()), None)
        problems = []
        for key, value in actual.items():
            problems += same_shape(sample, value, f"{path}.{key}")
        return problems
    if isinstance(expected, dict):
        problems = []
        if set(expected) != set(actual):
            problems.append(f"{path}: keys {sorted(expected)} expected, got {sorted(actual)}")
        for key in set(expected) & set(actual):
            problems += same_shape(expected[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(expected, list) and expected:
        problems = []
        for index, item in enumerate(actual):
            problems += same_shape(expected[0], item, f"{path}[{index}]")
        return problems
    return []

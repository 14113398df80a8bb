"""Clodura's credits: separate pools, or one unified figure."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, RootModel

from creditbook.wire.common import Amount
from creditbook.wire.compat.common import Shape


class CloduraSeparateOut(Shape):
    """Plans with separate `contact_views` and `direct_dials` pools."""

    contacts_view: Amount = Field(
        alias="contactsView", description="Contact-view credits spent this period."
    )
    max_contacts: str = Field(
        alias="maxContacts",
        pattern=r"^-?\d+(\.\d+)?$",
        description='The period\'s contact-view allowance, as a decimal string (`"1000"`).',
    )
    direct_dials: Amount = Field(
        alias="directDials", description="Direct-dial credits spent this period."
    )
    max_direct_dials: Amount = Field(
        alias="maxDirectDials", description="The period's direct-dial allowance."
    )


class CloduraUnifiedOut(Shape):
    """Every other plan: one figure for all its pools."""

    remaining_credits: Amount = Field(
        alias="remainingCredits", description="Credits that can be spent now, all pools summed."
    )


def _one_of(schema: dict[str, Any]) -> None:
    # The two shapes never both match (disjoint required keys, no others allowed).
    schema["oneOf"] = schema.pop("anyOf")


class CloduraCreditsOut(RootModel[CloduraSeparateOut | CloduraUnifiedOut]):
    """Clodura's credits (`GET /api/v1/credits`): separate contact-view and direct-dial
    counts when the plan has both pools, otherwise one remaining total."""

    model_config = ConfigDict(json_schema_extra=_one_of)


# Examples are attached to the media type, not the models: pydantic sorts the keys of model
# examples, and on these endpoints the key order is part of the contract. They are the
# pages' examples, except that FastAPI drops nulls from the document: where a page shows
# null, a value is shown.
CLODURA_SEPARATE_EXAMPLE: dict[str, Any] = {
    "contactsView": 142,
    "maxContacts": "1000",
    "directDials": 38,
    "maxDirectDials": 200,
}


CLODURA_UNIFIED_EXAMPLE: dict[str, Any] = {"remainingCredits": 700}

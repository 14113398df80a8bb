"""Rate cards: a product's price list, as sent and as answered."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, Field

from creditbook.domain.rates import Colors, FilterRate, FunctionRate, RateCard
from creditbook.wire.common import Amount, Id, Name, OptionalId, Out, Strict, credits


class ColorsBody(Strict):
    bg_color: str = "#EEF2F7"
    txt_color: str = "#62748A"


class FunctionBody(Strict):
    credits_per_success: Amount
    pool: Id = "credits"
    colors: ColorsBody = Field(default_factory=ColorsBody)


class FilterBody(Strict):
    display: Name
    credits_per_row: Amount


class RateCardBody(Strict):
    """A product's price list: base per kept row, enrichments per success, paid filters."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "credits_per_row": 4,
                    "base_label": "Export Listings",
                    "functions": {"get_phone_numbers": {"credits_per_success": 6}},
                    "filters": {"no_phone": {"display": "Without phone", "credits_per_row": 1}},
                }
            ]
        }
    )

    credits_per_row: Amount
    base_label: Name | None = None
    base_colors: ColorsBody = Field(default_factory=ColorsBody)
    pool: Id = "credits"
    # Mappings (read-only) so that `RateCardOut` may narrow them to its output models.
    functions: Mapping[str, FunctionBody] = Field(default_factory=dict, max_length=64)
    filters: Mapping[str, FilterBody] = Field(default_factory=dict, max_length=64)
    module: OptionalId = ""
    service: OptionalId = ""

    def to_card(self, rate_card_id: str) -> RateCard:
        return RateCard(
            rate_card_id=rate_card_id,
            credits_per_row=credits(self.credits_per_row, "credits_per_row"),
            base_label=self.base_label,
            base_colors=Colors(**self.base_colors.model_dump()),
            pool=self.pool,
            functions={
                name: FunctionRate(
                    name,
                    credits(f.credits_per_success, "credits_per_success"),
                    pool=f.pool,
                    colors=Colors(**f.colors.model_dump()),
                )
                for name, f in self.functions.items()
            },
            filters={
                name: FilterRate(name, f.display, credits(f.credits_per_row, "credits_per_row"))
                for name, f in self.filters.items()
            },
            module=self.module,
            service=self.service,
        )


class ColorsOut(ColorsBody):
    model_config = ConfigDict(extra="ignore", from_attributes=True)


class FunctionOut(FunctionBody):
    model_config = ConfigDict(extra="ignore", from_attributes=True)

    colors: ColorsOut = Field(default_factory=ColorsOut)


class FilterOut(FilterBody):
    model_config = ConfigDict(extra="ignore", from_attributes=True)


class RateCardOut(RateCardBody):
    model_config = ConfigDict(extra="ignore", json_schema_extra=None, from_attributes=True)

    rate_card_id: str
    base_colors: ColorsOut = Field(default_factory=ColorsOut)
    functions: Mapping[str, FunctionOut] = Field(default_factory=dict, max_length=64)
    filters: Mapping[str, FilterOut] = Field(default_factory=dict, max_length=64)


class RateCardList(Out):
    data: list[RateCardOut]

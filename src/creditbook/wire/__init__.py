"""The HTTP API's request and response bodies, shared by the server, the SDK and the CLI.

One module per resource; `compat` holds the vendor-compatible shapes, one module per vendor.
Only pydantic and `creditbook.domain` are imported here: the SDK ships these models without
the server. Request bodies turn into the ledger's request values (`to_request`); response
models are read off engine results by attribute (`Model.model_validate(result)`).
"""

from creditbook.wire.accounts import (
    AccountCreate,
    AccountList,
    AccountOut,
    AccountPatch,
)
from creditbook.wire.alerts import (
    AlertRuleBody,
    AlertRuleOut,
    AlertsBody,
    AlertsOut,
    PoolAlertsOut,
)
from creditbook.wire.balance import (
    BalanceOut,
    PoolOut,
)
from creditbook.wire.charges import (
    BatchCreate,
    BatchItem,
    BatchOut,
    BatchResultOut,
    ChargeCreate,
    ChargeOut,
    RefundCreate,
    RefundOut,
)
from creditbook.wire.common import (
    Amount,
    Day,
    DetailOut,
    ErrorOut,
    HealthOut,
    Id,
    Instant,
    Out,
    Strict,
)
from creditbook.wire.estimates import (
    EstimateCreate,
    EstimateLineOut,
    EstimateOut,
)
from creditbook.wire.events import EventList, EventOut, EventType
from creditbook.wire.grants import (
    GrantCreate,
    GrantOut,
)
from creditbook.wire.keys import (
    KeyCreate,
    KeyOut,
)
from creditbook.wire.plans import (
    PlanBody,
    PlanList,
    PlanOut,
    RolloverBody,
    RolloverOut,
)
from creditbook.wire.rate_cards import (
    ColorsBody,
    ColorsOut,
    FilterBody,
    FilterOut,
    FunctionBody,
    FunctionOut,
    RateCardBody,
    RateCardList,
    RateCardOut,
)
from creditbook.wire.runs import (
    BreakdownItem,
    ColorPair,
    FilterItem,
    FunctionResults,
    ResultsCreate,
    RunCreate,
    RunCreditsOut,
    RunList,
    RunOut,
)
from creditbook.wire.stats import (
    BucketOut,
    DayOut,
    ForecastOut,
    ResourceOut,
    RunTotalOut,
    StatsOut,
    StatsPlanOut,
    TotalOut,
)
from creditbook.wire.transactions import (
    TransactionList,
    TransactionOut,
)
from creditbook.wire.verify import VerifyOut

__all__ = [
    "AccountCreate",
    "AccountList",
    "AccountOut",
    "AccountPatch",
    "AlertRuleBody",
    "AlertRuleOut",
    "AlertsBody",
    "AlertsOut",
    "Amount",
    "BalanceOut",
    "BatchCreate",
    "BatchItem",
    "BatchOut",
    "BatchResultOut",
    "BreakdownItem",
    "BucketOut",
    "ChargeCreate",
    "ChargeOut",
    "ColorPair",
    "ColorsBody",
    "ColorsOut",
    "Day",
    "DayOut",
    "DetailOut",
    "ErrorOut",
    "EstimateCreate",
    "EstimateLineOut",
    "EstimateOut",
    "EventList",
    "EventOut",
    "EventType",
    "FilterBody",
    "FilterItem",
    "FilterOut",
    "ForecastOut",
    "FunctionBody",
    "FunctionOut",
    "FunctionResults",
    "GrantCreate",
    "GrantOut",
    "HealthOut",
    "Id",
    "Instant",
    "KeyCreate",
    "KeyOut",
    "Out",
    "PlanBody",
    "PlanList",
    "PlanOut",
    "PoolAlertsOut",
    "PoolOut",
    "RateCardBody",
    "RateCardList",
    "RateCardOut",
    "RefundCreate",
    "RefundOut",
    "ResourceOut",
    "ResultsCreate",
    "RolloverBody",
    "RolloverOut",
    "RunCreate",
    "RunCreditsOut",
    "RunList",
    "RunOut",
    "RunTotalOut",
    "StatsOut",
    "StatsPlanOut",
    "Strict",
    "TotalOut",
    "TransactionList",
    "TransactionOut",
    "VerifyOut",
]

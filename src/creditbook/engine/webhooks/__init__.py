"""Webhooks: endpoints the operator registers, and the dispatcher that signs and delivers
each event to each endpoint that wants it, retrying on a schedule.

`endpoints` holds the operator's operations (and an endpoint's deliveries, a retry now);
`urls` which URLs may be called; `delivery` the fan-out, one signed attempt and what its
outcome writes; `dispatcher` the loop that runs them, one process per database; `results`
what the operations answer. See docs/webhooks.md.
"""

"""Events out: what a write records for the world to hear (balance alerts, grants,
expiries, renewals, runs), in the same transaction as the write itself (the outbox).

`records` holds the event as read and its JSON body (the API's object and the webhook's
payload); `outbox` writes events under the account lock and evaluates alert rules.
"""

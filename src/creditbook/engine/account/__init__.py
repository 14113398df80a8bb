"""One write transaction on one locked account: its state (`state.AccountTx`), the lines it
posts (`lines`), and the algorithms over it — spending, holds, period catch-up, deferred
writes."""

"""Pure domain code: amounts, periods, plans, grants, rate cards, stats. No I/O."""

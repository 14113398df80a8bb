"""Named queries of the reports, one module per report.

Statements only: the engine's report modules execute them and shape the rows. Values the
domain names (transaction types, grant sources) arrive as arguments, so the store stays free
of the domain's vocabulary.
"""

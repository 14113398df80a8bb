"""OpenTelemetry traces, with the `otel` extra (`pip install 'creditbook[otel]'`), off unless
the standard `OTEL_*` variables ask for them.

Tracing is on when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`; several
separated by commas), or when it is unset and `OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; `OTEL_SDK_DISABLED=true` turns it off. Each
request is a server span (FastAPI), each database statement a client span under it
(SQLAlchemy, so psycopg and SQLite alike), each outgoing httpx call a client span. The OTLP
exporter speaks HTTP/protobuf and reads its own `OTEL_EXPORTER_OTLP_*` settings; the service
name is `OTEL_SERVICE_NAME`, `creditbook` by default.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from fastapi import FastAPI

from creditbook.engine.ledger import Ledger

log = logging.getLogger("creditbook.tracing")
OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def exporter_names() -> list[str]:
    """The span exporters the environment asks for (none: tracing is off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    named = os.environ.get("OTEL_TRACES_EXPORTER")
    if named is None:
        return ["otlp"] if any(os.environ.get(name) for name in OTLP_ENDPOINTS) else []
    names = [name.strip().lower() for name in named.split(",")]
    return [name for name in names if name not in ("", "none")]


def install(app: FastAPI, ledger: Ledger) -> Any | None:
    """Trace `app` and `ledger`'s database when the environment asks for it; returns the
    tracer provider (to shut down when the app stops), or None when not tracing."""
    names = exporter_names()
    if not names:
        return None
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces but the otel extra is not installed "
            "(pip install 'creditbook[otel]'): not tracing"
        )
        return None
    provider = _provider(names)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    # skip_dep_check: the instrumentation's declared SQLAlchemy range lags its releases; it
    # hooks the engine's stable event API.
    SQLAlchemyInstrumentor().instrument(
        engine=ledger.engine, tracer_provider=provider, skip_dep_check=True
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    log.info("tracing to %s", ", ".join(names))
    return provider


def _provider(names: list[str]) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": "creditbook"})
    )
    for name in names:
        if name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            log.warning("OTEL_TRACES_EXPORTER %r is not supported (otlp, console): ignored", name)
    return provider


def uninstall(app: FastAPI, provider: Any) -> None:
    """Send the spans still buffered and stop tracing."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    provider.shutdown()
    FastAPIInstrumentor.uninstrument_app(app)
    SQLAlchemyInstrumentor().uninstrument()
    HTTPXClientInstrumentor().uninstrument()

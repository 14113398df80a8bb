"""What `creditbook serve` runs around uvicorn: logging, the listening line."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

from creditbook.cli.errors import usage
from creditbook.engine.ledger import Ledger
from creditbook.engine.sweeper import Sweeper
from creditbook.version import __version__

if TYPE_CHECKING:
    from creditbook.engine.webhooks.dispatcher import Dispatcher

log = logging.getLogger("creditbook.server")
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def logging_options(level: str, fmt: str) -> tuple[str, str]:
    """`--log-level` and `--log-format` in lower case; a usage error for anything else."""
    level, fmt = level.lower(), fmt.lower()
    if level not in LOG_LEVELS:
        raise usage(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    if fmt not in LOG_FORMATS:
        raise usage(f"--log-format must be json or console, not {fmt!r}")
    return level, fmt


def run(
    url: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    log_format: str,
    sweep_interval_s: float | None,
    webhooks_poll_interval_s: float | None = None,
) -> None:
    """Run the API on `url`'s database until interrupted (the schema is migrated already),
    with the sweeper in this process unless `sweep_interval_s` is None, and the webhook
    dispatcher unless `webhooks_poll_interval_s` is None."""
    from sqlalchemy.engine import make_url

    from creditbook.api.observability import configure_logging

    configure_logging(log_level, log_format)
    log.info(
        "creditbook %s listening on http://%s:%s (%s worker%s, %s database, %s, %s)",
        __version__,
        host,
        port,
        workers,
        "" if workers == 1 else "s",
        make_url(url).get_backend_name(),
        "no sweeper" if sweep_interval_s is None else f"sweeper every {sweep_interval_s:g} s",
        "no webhooks" if webhooks_poll_interval_s is None else "webhook dispatcher",
    )
    metrics_dir = _metrics_dir(workers)
    sweeper = (
        None
        if sweep_interval_s is None
        else Sweeper(Ledger.open(url, upgrade=False), sweep_interval_s)
    )
    if sweeper is not None:
        sweeper.start()
    dispatcher = None
    if webhooks_poll_interval_s is not None:
        dispatcher, dispatcher_ledger = open_dispatcher(url, webhooks_poll_interval_s)
        dispatcher.start()
    _stop_on_sigterm()
    try:
        _uvicorn(host, port, workers, log_level, log_format)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the signal it stopped on, after its own shutdown
    finally:
        if dispatcher is not None:
            dispatcher.stop()
            dispatcher_ledger.close()
        if sweeper is not None:
            sweeper.stop()
            sweeper.ledger.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def open_dispatcher(url: str, poll_interval_s: float) -> tuple[Dispatcher, Ledger]:
    """A webhook dispatcher on `url`, configured by the `CREDITBOOK_WEBHOOKS_*` settings,
    and the ledger it runs on (to close after it)."""
    from creditbook.settings import Settings

    settings = Settings()
    ledger = Ledger.open(
        url,
        upgrade=False,
        webhooks_allow_private=settings.webhooks_allow_private,
        stripe=settings.stripe(),
    )
    dispatcher = ledger.webhook_dispatcher(
        poll_interval_s=poll_interval_s,
        concurrency=settings.webhooks_concurrency,
        timeout_s=settings.webhooks_timeout_s,
    )
    return dispatcher, ledger


def run_dispatcher(url: str, *, log_level: str, log_format: str, poll_interval_s: float) -> None:
    """Run the webhook dispatcher alone until interrupted (SIGINT or SIGTERM): deliveries
    in flight finish, then it stops."""
    import signal

    from creditbook.api.observability import configure_logging

    configure_logging(log_level, log_format)
    dispatcher, ledger = open_dispatcher(url, poll_interval_s)
    dialect = ledger.engine.dialect.name
    log.info("creditbook %s webhook dispatcher on a %s database", __version__, dialect)

    _stop_on_sigterm()
    dispatcher.start()
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        dispatcher.stop()
        ledger.close()


def _stop_on_sigterm() -> None:
    """SIGTERM stops the process as SIGINT does (KeyboardInterrupt), so that the sweeper and
    the dispatcher stop gracefully: deliveries in flight finish, locks are let go."""
    import signal

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


def _metrics_dir(workers: int) -> str | None:
    """Prometheus multiprocess mode, so `/metrics` sums every worker: the directory of
    `PROMETHEUS_MULTIPROC_DIR`, emptied of the files of an earlier start, or with several
    workers and none given a new temporary directory (returned, to delete at the end)."""
    given = os.environ.get(MULTIPROCESS_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        for stale in glob.glob(os.path.join(given, "*.db")):
            os.remove(stale)
        return None
    if workers == 1:
        return None
    made = tempfile.mkdtemp(prefix="creditbook-metrics-")
    os.environ[MULTIPROCESS_ENV] = made
    return made


def _uvicorn(host: str, port: int, workers: int, log_level: str, log_format: str) -> None:
    import uvicorn

    from creditbook.api.observability import logging_config

    uvicorn.run(
        "creditbook.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=logging_config(log_level, log_format),
        access_log=False,  # creditbook.access logs every request instead
    )

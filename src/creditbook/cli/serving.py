"""What `creditbook serve` runs around uvicorn: logging, the listening line."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile

from creditbook.cli.errors import usage
from creditbook.engine.ledger import Ledger
from creditbook.engine.sweeper import Sweeper
from creditbook.version import __version__

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
) -> None:
    """Run the API on `url`'s database until interrupted (the schema is migrated already),
    with the sweeper in this process unless `sweep_interval_s` is None."""
    from sqlalchemy.engine import make_url

    from creditbook.api.observability import configure_logging

    configure_logging(log_level, log_format)
    log.info(
        "creditbook %s listening on http://%s:%s (%s worker%s, %s database, %s)",
        __version__,
        host,
        port,
        workers,
        "" if workers == 1 else "s",
        make_url(url).get_backend_name(),
        "no sweeper" if sweep_interval_s is None else f"sweeper every {sweep_interval_s:g} s",
    )
    metrics_dir = _metrics_dir(workers)
    sweeper = (
        None
        if sweep_interval_s is None
        else Sweeper(Ledger.open(url, upgrade=False), sweep_interval_s)
    )
    if sweeper is not None:
        sweeper.start()
    try:
        _uvicorn(host, port, workers, log_level, log_format)
    finally:
        if sweeper is not None:
            sweeper.stop()
            sweeper.ledger.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


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

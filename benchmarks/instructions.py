"""The engine's client-side cost of a charge in instructions, counted by valgrind's callgrind.

    python benchmarks/instructions.py [--postgres-url URL] [--kinds single,keyed,batch]
                                      [--charges N] [--compare SRC]

`engine.py` measures rates and CPU time, which on a shared machine vary by a quarter from
one second to the next: a change worth a few percent is lost in them. An instruction count
is the same from run to run (within a few tenths of a percent), whatever else the machine
does, so two versions of the code compare in one reading. Only this client process is
counted: PostgreSQL's own work is not (SQLite's is, as it runs in the process). Fewer
instructions are not always less time (a cache miss costs more than an instruction), so a
change this shows should be confirmed by the rates when it is large enough for them to see.

Each figure comes from two child processes run under `valgrind --tool=callgrind`, each on a
database of its own: one makes `--charges` charges of the kind, the other five times as
many. Callgrind counts only the charges: its counting is switched on when a child has opened
its ledger and accounts, and off after its last charge (the interpreter's start and the
imports alone cost about 3.2 billion instructions, and counted they took most of the run's
time). The difference divided by the difference in charges is the cost of one charge, with
what only the first charges do (preparing statements, filling caches) cancelled out.
`PYTHONHASHSEED` is fixed so that both children hash alike, and a first child runs without
valgrind so that neither counted one compiles bytecode. The kinds: `single`
(`Ledger.charge`), `keyed` (with an idempotency key) and `batch` (`Ledger.charge_batch` of
100 charges over 100 accounts; the cost per charge). With `--compare SRC` every kind is
counted again with the package found under SRC (say, a `git worktree` of an older commit's
`src`), and the table gives both and their ratio.

PostgreSQL comes from --postgres-url, else CREDITBOOK_BENCH_POSTGRES_URL, else
CREDITBOOK_TEST_POSTGRES_URL; without one, only SQLite is counted. Under valgrind Python
still starts six times slower than without it (11 s against 1.8 s; counted, the start took
48 s): the defaults (three kinds on two databases, twelve child processes) take about three
and a half minutes; `--kinds` counts fewer.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import POSTGRES_SKIPPED, POSTGRES_URL_HELP, postgres_database, postgres_server

KINDS = ("single", "keyed", "batch")
BATCH = 100  # charges per batch, over as many accounts
_COLLECTED = re.compile(r"Collected : (\d+)")


def child(kind: str, url: str, charges: int) -> None:
    """Open a ledger on `url` with accounts to charge in turn (BATCH for batches, a few
    otherwise) and make `charges` charges of `kind`."""
    from creditbook import ChargeRequest, Credits, Ledger, Plan

    ledger = Ledger.open(url)
    ledger.put_plan(Plan("instructions", allowances={"credits": Credits.of(10**9)}))
    accounts = [
        ledger.open_account("instructions", account_id=f"acct-{index}").account_id
        for index in range(BATCH if kind == "batch" else 10)
    ]
    turn, keys, one = itertools.cycle(accounts), itertools.count(), Credits.of(1)
    _wait_for_counting("ready")
    for _ in range(charges if kind != "batch" else charges // BATCH):
        if kind == "batch":
            requests = [ChargeRequest(account_id=next(turn), amount=one) for _ in range(BATCH)]
            failed = [item for item in ledger.charge_batch(requests) if item.error_code]
            if failed:
                raise SystemExit(f"a batch item was refused: {failed[0].error_code}")
        else:
            key = f"key-{next(keys)}" if kind == "keyed" else None
            ledger.charge(account_id=next(turn), amount=one, idempotency_key=key)
    _wait_for_counting("done")
    ledger.close()


def _wait_for_counting(stage: str) -> None:
    """Tell the parent the child reached `stage` and wait until it has switched callgrind's
    counting on or off."""
    print(stage, flush=True)
    if sys.stdin.readline() != "go\n":
        raise SystemExit(f"the parent did not answer at {stage}")


@contextmanager
def scratch_database(postgres_url: str | None) -> Iterator[str]:
    """A database of its own for one child: a SQLite file, or a PostgreSQL scratch database
    dropped afterwards."""
    if postgres_url is None:
        with tempfile.TemporaryDirectory(prefix="cb-instructions-") as directory:
            yield f"sqlite:///{directory}/ledger.db"
        return
    with postgres_database(postgres_url) as url:
        yield url


def count(
    kind: str, charges: int, postgres_url: str | None, src: Path | None, *, valgrind: bool = True
) -> int:
    """The instructions one child process runs for `charges` charges of `kind` (0 when not
    run under valgrind). Callgrind counts only the charges: it starts with its
    instrumentation off (`--instr-atstart=no`, which runs the interpreter's start, the
    imports and the setup about four times faster than counting them), and the child waits
    at each end of its charges while `callgrind_control` switches it on, then off."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    with scratch_database(postgres_url) as url, tempfile.TemporaryDirectory() as out:
        counting = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.out",
        ]
        with open(f"{out}/stderr", "w+") as stderr:
            process = subprocess.Popen(
                [
                    *(counting if valgrind else []),
                    sys.executable,
                    __file__,
                    "--child",
                    kind,
                    url,
                    str(charges),
                ],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
            with process:
                _count_between(process, valgrind)
            stderr.seek(0)
            errors = stderr.read()
    if process.returncode == 0 and not valgrind:
        return 0
    found = _COLLECTED.search(errors)
    if process.returncode != 0 or found is None:
        raise SystemExit(f"the {kind} child failed:\n{errors[-2000:]}")
    return int(found.group(1))


def _count_between(process: subprocess.Popen[str], valgrind: bool) -> None:
    """Switch counting on when the child is ready and off when its charges are done, then
    wait for it to end. A child that ends early is left to its exit status."""
    assert process.stdin is not None and process.stdout is not None
    for stage, switch in (("ready", "on"), ("done", "off")):
        if process.stdout.readline() != f"{stage}\n":
            break
        if valgrind:
            subprocess.run(
                ["callgrind_control", f"--instr={switch}", str(process.pid)],
                capture_output=True,
                check=True,
                timeout=120,
            )
        process.stdin.write("go\n")
        process.stdin.flush()
    process.stdin.close()
    process.wait()


def per_charge(kind: str, charges: int, postgres_url: str | None, src: Path | None) -> float:
    """Instructions per charge: the difference between `charges` and five times as many.
    A child first runs once without valgrind, so that both counted children find every
    module's bytecode compiled (the first import of a fresh checkout compiles it)."""
    count(kind, BATCH if kind == "batch" else 1, postgres_url, src, valgrind=False)
    fewer = count(kind, charges, postgres_url, src)
    more = count(kind, 5 * charges, postgres_url, src)
    return (more - fewer) / (4 * charges)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"charges to count, comma-separated (default {','.join(KINDS)})",
    )
    parser.add_argument(
        "--charges",
        type=int,
        default=BATCH,
        help=f"charges in the smaller run (default {BATCH}; the other makes five times as many)",
    )
    parser.add_argument("--compare", type=Path, help="also count the package found under SRC")
    parser.add_argument("--postgres-url", help=POSTGRES_URL_HELP)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    unknown = [kind for kind in args.kinds if kind not in KINDS]
    if unknown or not args.kinds:
        parser.error(f"--kinds takes {', '.join(KINDS)}; got {', '.join(unknown) or 'none'}")
    if args.charges < 1 or ("batch" in args.kinds and args.charges % BATCH):
        parser.error(f"--charges must be positive, and a multiple of {BATCH} to count batches")
    if args.compare is not None and not (args.compare / "creditbook").is_dir():
        parser.error(f"--compare: {args.compare} holds no creditbook package")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        kind, url, charges = args.child
        child(kind, url, int(charges))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install -y valgrind)")
    from rich.console import Console
    from rich.table import Table

    postgres_url = postgres_server(args.postgres_url)
    databases = [("SQLite", None)] + ([("PostgreSQL", postgres_url)] if postgres_url else [])
    sources = [("this checkout", None)] + (
        [(str(args.compare), args.compare)] if args.compare else []
    )
    table = Table(title="Client instructions per charge (valgrind --tool=callgrind)")
    for column in ("database", "charge", *(name for name, _ in sources)):
        table.add_column(column, justify="left" if column in ("database", "charge") else "right")
    if args.compare:
        table.add_column("this / compared", justify="right")
    progress = Console(stderr=True)
    for database, url in databases:
        for kind in args.kinds:
            figures = []
            for name, src in sources:
                progress.print(f"{database}, {kind}, {name}…")
                figures.append(per_charge(kind, args.charges, url, src))
            cells = [f"{figure:,.0f}" for figure in figures]
            if args.compare:
                cells.append(f"{figures[0] / figures[1]:.3f}")
            table.add_row(database, kind, *cells)
    Console().print(table)
    if not postgres_url:
        progress.print(POSTGRES_SKIPPED)
    return 0


if __name__ == "__main__":
    sys.exit(main())

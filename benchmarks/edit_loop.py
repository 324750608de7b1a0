"""The edit loop: one test as a whole pytest process, conftest.py's pair against a bare conftest.

A developer who edits a test and runs just that test pays for a whole pytest process: its
start, the conftest's set-up, one test, the teardown. Each contender is a generated project
whose one test inserts 3 rows, commits and reads them back, on fixture_overhead.py's app
(30 tables, each with an index and a foreign key):

- the floor: pytest with one test that does nothing, and no database;
- our pair: the root conftest.py as it is. Its TestDatabase takes the run database an earlier
  run left (``<name>_run0``) and empties it; the TestConnection creates the tables, and drops
  them at the end;
- our pair again (A/A): the same, from a second, identical project directory;
- (servers) our pair with ``--create-db``: the run database dropped and made anew each time,
  which is what the reuse saves;
- bare: a minimal conftest.py, no database of its own: a session-scoped engine on
  ``TEST_DATABASE_URL`` itself, create_all at the start, drop_all at the end, one connection,
  and a function-scoped fixture that begins a transaction (and BEGIN for pysqlite) and yields
  a Session joined to it with join_transaction_mode="create_savepoint".

All of them run on a database the benchmark makes (random suffix), interleaved (A B C, then
B C A, ...), after one warm-up round that is not counted (bytecode written, the pair's run
database made). Reported: seconds per process (min, median, max), and the medians' ratios.

    python benchmarks/edit_loop.py [--backend sqlite|postgresql|mariadb] [--rounds 15] [--smoke]

Exits non-zero only if a correctness check fails, never on a timing.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import typing as t
from pathlib import Path

from common import Database
from common import arguments
from common import check
from common import interleaved
from common import median
from common import table
from fixture_overhead import PROJECT_HEADER
from fixture_overhead import check_run
from fixture_overhead import generated_run
from fixture_overhead import pytest_env
from fixture_overhead import run_pytest

FLOOR, PAIR, PAIR_AGAIN = "floor (pytest, no database)", "our pair (conftest.py)", "our pair again (A/A)"
CREATE_DB, BARE = "our pair with --create-db", "bare connection + SAVEPOINT conftest"

BARE_CONFTEST = """\
import os

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from fixture_strategies import Base


@pytest.fixture(scope="session")
def connection():
    engine = create_engine(os.environ["TEST_DATABASE_URL"])
    Base.metadata.create_all(engine)
    connection = engine.connect()
    yield connection
    connection.close()
    Base.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def db_session(connection):
    transaction = connection.begin()
    if connection.dialect.driver == "pysqlite" and not connection.connection.driver_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    transaction.rollback()
"""


def projects(directory: Path, backend: str) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Each contender's project directory, and its pytest options."""
    made: dict[str, tuple[Path, tuple[str, ...]]] = {}
    for name, kind in [(FLOOR, "floor"), (PAIR, ""), (PAIR_AGAIN, ""), (CREATE_DB, ""), (BARE, "bare")]:
        if name == CREATE_DB and backend == "sqlite":
            continue  # an SQLite run database is a file, emptied the same way with or without it
        project = directory / f"project{len(made)}"
        if kind == "bare":
            project.mkdir()
            (project / "conftest.py").write_text(BARE_CONFTEST)
            test = (
                PROJECT_HEADER.split("\n\n\n")[0] + "\n\n\ndef test_0(db_session) -> None:\n    workload(db_session)\n"
            )
            (project / "test_generated.py").write_text(test)
        else:
            generated_run(project, kind, 1)
        made[name] = (project, ("--create-db",) if name == CREATE_DB else ())
    return made


def measure(
    database: Database, directory: Path, rounds: int, failures: list[str]
) -> tuple[dict[str, list[float]], list[str]]:
    """Seconds per process of each contender, one sample per round; the run databases left."""
    env = pytest_env(database.url.render_as_string(hide_password=False))
    contenders = projects(directory, database.backend)

    def runner(name: str) -> t.Callable[[int], None]:
        project, options = contenders[name]

        def run(count: int) -> None:
            check_run(run_pytest(project, env, *options), "1 passed", failures, f"{database.backend}: {name}")

        return run

    runners = {name: runner(name) for name in contenders}
    interleaved(runners, 1, 1)  # the warm-up round, not counted
    samples = interleaved(runners, rounds, 1)
    return samples, database.runs()


def report(backend: str, rounds: int, samples: dict[str, list[float]]) -> str:
    """Print the table; return the summary's part for ``backend``."""
    seconds = {name: median(s) for name, s in samples.items()}
    floor, pair, bare = seconds[FLOOR], seconds[PAIR], seconds[BARE]
    # Ratios within each round first, then their median: drift on the machine cancels out.
    per_round = {name: [a / b for a, b in zip(s, samples[BARE])] for name, s in samples.items()}
    rows = [
        [
            name,
            f"{min(samples[name]) * 1e3:,.0f} / {s * 1e3:,.0f} / {max(samples[name]) * 1e3:,.0f}",
            f"{(s - floor) * 1e3:,.0f}",
            f"{s / bare:.3f}",
            f"{statistics.median(per_round[name]):.3f}",
        ]
        for name, s in seconds.items()
    ]
    print(f"\n{backend}, one test per pytest process ({rounds} interleaved rounds after a warm-up):")
    print(table(["contender", "ms min / median / max", "net of the floor", "/ bare", "/ bare, per round"], rows))
    aa = seconds[PAIR_AGAIN] / pair
    part = f"{backend}: pair/bare {pair / bare:.3f}x ({(pair - bare) * 1e3:+,.0f} ms), A/A {aa:.3f}x"
    if CREATE_DB in seconds:
        part += f", --create-db {(seconds[CREATE_DB] - pair) * 1e3:+,.0f} ms"
    return part


def main() -> int:
    args = arguments(__doc__.splitlines()[0], ["sqlite", "postgresql", "mariadb"], rounds=15)
    if args.smoke:
        args.rounds = 1
    failures: list[str] = []
    summary = []
    with tempfile.TemporaryDirectory() as directory:
        for backend in args.backend:
            start = time.perf_counter()
            database = Database(backend, "flask_scoped_db_edit_loop", Path(directory))
            try:
                (Path(directory) / backend).mkdir()
                samples, runs = measure(database, Path(directory) / backend, args.rounds, failures)
                stem = Path(database.url.database or "").stem
                # Every run released its slot and the next took it back: one run database in all.
                check(runs == [f"{stem}_run0"], failures, f"{backend}: run databases left: {runs}")
            finally:
                database.drop()
            summary.append(f"{report(backend, args.rounds, samples)} [{time.perf_counter() - start:.0f}s]")
    print()
    print("edit_loop:", "; ".join(summary), "| checks:", "FAILED" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

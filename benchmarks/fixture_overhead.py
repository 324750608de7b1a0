"""Cost per test of isolating the database: conftest.py's pair against the alternatives.

The schema has 30 tables, each with an index and a foreign key; every test inserts
3 rows, commits and reads them back (and checks it sees exactly 3: a leak from an
earlier test fails the run). Strategies: no database (the floor), the SQLAlchemy
docs' bare connection + SAVEPOINT fixture without Flask, our pair (conftest.py's
own db_session, twice: the A/A row), DELETE of every table, TRUNCATE (servers),
create_all/drop_all.

Measured twice: in one process, driving each strategy's fixture in a loop with the
rounds interleaved (create_all/drop_all, which drops the tables the others use and
costs a hundred times more than they do, runs after them); and as whole pytest runs
of 200 generated tests per strategy, interleaved, on conftest.py as it is (plus a
db_session override for the other strategies).

    python benchmarks/fixture_overhead.py [--backend sqlite|postgresql|mariadb] [--smoke]

Exits non-zero only if a correctness check fails, never on a timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import fixture_strategies as strategies
import pytest
from common import ROOT
from common import Database
from common import arguments
from common import check
from common import interleaved
from common import median
from common import table

import conftest

Strategy = t.Callable[..., t.Iterator[t.Any]] | None
FLOOR, BARE, PAIR = "floor (no database)", "bare connection + SAVEPOINT, no Flask", "our pair (conftest.py)"
CREATE_ALL = "create_all/drop_all"
RESET_OFF = "our pair without the state reset"
RESTART_IDS = "our pair with restart_ids"
NO_BLOCKER = "our pair without the blocker"  # whole runs only: the blocker is an autouse fixture
PAIR_AGAIN = "our pair again (A/A)"  # the noise: the same fixture measured twice


def strategies_for(backend: str) -> dict[str, tuple[Strategy, str]]:
    """Each strategy: its fixture generator, and the name the generated conftest imports (if any)."""
    chosen: dict[str, tuple[Strategy, str]] = {
        FLOOR: (None, ""),
        BARE: (strategies.bare_savepoint, "bare_savepoint"),
        # The fixture functions themselves, undecorated: pytest keeps them there.
        PAIR: (strategies.pair, ""),
        PAIR_AGAIN: (strategies.pair, ""),
        RESET_OFF: (strategies.pair_without_state_reset, "no reset"),
        RESTART_IDS: (strategies.pair_with_restart_ids, "restart_ids"),
        NO_BLOCKER: (strategies.pair, "no blocker"),
        "DELETE every table": (strategies.delete_all, "delete_all"),
        "TRUNCATE every table": (strategies.truncate_all, "truncate_all"),
        CREATE_ALL: (strategies.create_all_drop_all, "create_all_drop_all"),
    }
    if backend == "sqlite":
        del chosen["TRUNCATE every table"], chosen[RESET_OFF], chosen[RESTART_IDS]  # nothing to reset there
    return chosen


def in_process(url: str, chosen: dict[str, tuple[Strategy, str]], rounds: int, n: dict[str, int]) -> dict[str, float]:
    app = strategies.create_app(url)
    connection_fixture = conftest.connection.__wrapped__(app, strategies.db)  # type: ignore[attr-defined]
    connection = next(connection_fixture)

    def runner(strategy: Strategy) -> t.Callable[[int], None]:
        def run(count: int) -> None:
            for _ in range(count):
                if strategy is None:
                    continue
                fixture = strategy(app, strategies.db, connection)
                strategies.workload(next(fixture))
                for _ in fixture:  # the teardown
                    pass

        return run

    try:
        shared = {name: runner(s) for name, (s, _) in chosen.items() if name not in (CREATE_ALL, NO_BLOCKER)}
        samples = interleaved(shared, rounds, n)
        with strategies.own_pool(connection.engine), app.app_context():
            strategies.db.drop_all()
        samples |= interleaved({CREATE_ALL: runner(chosen[CREATE_ALL][0])}, rounds, n)
        with strategies.own_pool(connection.engine), app.app_context():
            strategies.db.create_all()
    finally:
        for _ in connection_fixture:
            pass
        with app.app_context():
            strategies.db.engine.dispose()
    return {name: median(s) for name, s in samples.items()}


def generated_run(directory: Path, strategy_name: str, tests: int) -> None:
    """Write a pytest project running ``tests`` tests on one strategy."""
    directory.mkdir()
    if strategy_name == "floor":
        (directory / "conftest.py").write_text("")
        body = "def test_{i}() -> None:\n    pass\n"
        header = ""
    else:
        override = ""
        own = (ROOT / "conftest.py").read_text()
        body = "def test_{i}(db_session) -> None:\n    workload(db_session)\n"
        if strategy_name == "no blocker":
            own = own.replace("@pytest.fixture(autouse=True)\ndef _block", "@pytest.fixture\ndef _block")
        elif strategy_name == "no reset":
            override = "\n\n_reset_postgresql_session = _reset_mariadb_session = lambda connection, restart_ids: None\n"
        elif strategy_name == "restart_ids":
            body = "def test_{i}(db_session, restart_ids) -> None:\n    workload(db_session)\n"
        elif strategy_name:
            override = (
                f"\n\nfrom fixture_strategies import {strategy_name} as _strategy\n\n\n"
                "@pytest.fixture\ndef db_session(app, db, connection):\n"
                "    yield from _strategy(app, db, connection)\n"
            )
        (directory / "conftest.py").write_text(own + override)
        header = (
            "import os\n\nimport pytest\nfrom fixture_strategies import create_app, db as bench_db, workload\n\n\n"
            '@pytest.fixture(scope="session")\ndef app():\n    return create_app(os.environ["TEST_DATABASE_URL"])\n\n\n'
            '@pytest.fixture(scope="session")\ndef db():\n    return bench_db\n\n\n'
        )
    (directory / "test_generated.py").write_text(header + "\n\n".join(body.format(i=i) for i in range(tests)))


def whole_runs(
    url: str, chosen: dict[str, tuple[Strategy, str]], rounds: int, tests: int, failures: list[str]
) -> dict[str, float]:
    env = {**os.environ, "TEST_DATABASE_URL": url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}"}
    env.pop("PYTEST_XDIST_WORKER", None)
    with tempfile.TemporaryDirectory() as directory:
        projects = {}
        for i, (name, (strategy, imported)) in enumerate(chosen.items()):
            projects[name] = Path(directory) / f"strategy{i}"
            generated_run(projects[name], "floor" if strategy is None else imported, tests)

        def runner(name: str) -> t.Callable[[int], None]:
            def run(count: int) -> None:
                command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
                result = subprocess.run(
                    command, check=False, cwd=projects[name], env=env, capture_output=True, text=True
                )
                last = (result.stdout.strip().splitlines() or ["no output"])[-1]
                check(result.returncode == 0 and f"{tests} passed" in last, failures, f"pytest run of {name}: {last}")

            return run

        samples = interleaved({name: runner(name) for name in chosen}, rounds, 1)
    return {name: median(s) / tests for name, s in samples.items()}


def report(title: str, seconds: dict[str, float]) -> tuple[float, float, float]:
    floor, pair, bare = seconds[FLOOR], seconds[PAIR], seconds[BARE]
    rows = [
        [name, f"{s * 1e6:,.0f}", f"{(s - floor) * 1e6:,.0f}", f"{(s - floor) / (pair - floor):.2f}"]
        for name, s in seconds.items()
    ]
    print(f"\n{title}:")
    print(table(["strategy", "us/test (median)", "net of the floor", "net / our pair's net"], rows))
    delete = seconds["DELETE every table"]
    create = seconds[CREATE_ALL]
    return (pair - floor) / (bare - floor), (create - floor) / (pair - floor), (delete - floor) / (pair - floor)


def extras(seconds: dict[str, float]) -> str:
    """What the state reset, restart_ids and the blocker cost per test, where measured."""
    pair = seconds[PAIR]
    parts = [f"A/A {(seconds[PAIR_AGAIN] - pair) * 1e6:+,.0f} us"]
    parts.append(f"reset {(pair - seconds[RESET_OFF]) * 1e6:+,.0f} us" if RESET_OFF in seconds else "")
    parts.append(f"restart_ids {(seconds[RESTART_IDS] - pair) * 1e6:+,.0f} us" if RESTART_IDS in seconds else "")
    parts.append(f"blocker {(pair - seconds[NO_BLOCKER]) * 1e6:+,.0f} us" if NO_BLOCKER in seconds else "")
    return ", ".join(part for part in parts if part)


def main() -> int:
    args = arguments(__doc__.splitlines()[0], ["sqlite", "postgresql", "mariadb"], rounds=9, loop=60, tests=200)
    pytest_rounds = 3
    if args.smoke:
        args.rounds, args.loop, args.tests, pytest_rounds = 2, 3, 5, 1
    failures: list[str] = []
    summary = []
    with tempfile.TemporaryDirectory() as directory:
        for backend in args.backend:
            database = Database(backend, "flask_scoped_db_fixture_bench", Path(directory))
            url = database.url.render_as_string(hide_password=False)
            chosen = strategies_for(backend)
            # create_all/drop_all costs 100 times the others: fewer of it per round.
            n = {name: max(1, args.loop // 10) if name == CREATE_ALL else args.loop for name in chosen}
            try:
                start = time.perf_counter()
                loop = in_process(url, chosen, args.rounds, n)
                runs = whole_runs(url, chosen, pytest_rounds, args.tests, failures)
            except (AssertionError, pytest.fail.Exception) as e:
                check(False, failures, f"{backend}: {e}")
                continue
            finally:
                database.drop()
            ratios = report(f"{backend}, in one process ({args.rounds} interleaved rounds)", loop)
            whole = report(f"{backend}, whole pytest runs of {args.tests} tests ({pytest_rounds} rounds)", runs)
            summary.append(
                f"{backend}: pair/bare {ratios[0]:.2f}x (whole runs {whole[0]:.2f}x),"
                f" create_all/drop_all {ratios[1]:.0f}x ({whole[1]:.0f}x), DELETE {ratios[2]:.1f}x ({whole[2]:.1f}x)"
                f" the pair's net cost; per test: {extras(loop)} (whole runs: {extras(runs)})"
                f" [{time.perf_counter() - start:.0f}s]"
            )
    print()
    print("fixture_overhead:", "; ".join(summary), "| checks:", "FAILED" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

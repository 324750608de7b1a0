"""Cost per test of isolating the database: conftest.py's pair against the alternatives.

The schema has 30 tables, each with an index and a foreign key; every test inserts
3 rows, commits and reads them back (and checks it sees exactly 3: a leak from an
earlier test fails the run). Strategies: no database (the floor), the SQLAlchemy
docs' bare connection + SAVEPOINT fixture without Flask, our pair (the test
transaction of flask_scoped_db.TestConnection, as conftest.py's db_session opens it,
twice: the A/A row), DELETE of every table, TRUNCATE (servers), create_all/drop_all.

Measured twice: in one process, driving each strategy's fixture in a loop with the
rounds interleaved, on one TestConnection (create_all/drop_all, which drops the tables
the others use and costs a hundred times more than they do, runs after them); and as
whole pytest runs of 400 generated tests per strategy, interleaved, on conftest.py as
it is (plus a db_session override for the other strategies). Each generated project
is collected once, untimed, first: that writes its bytecode and makes the run database
that conftest.py's TestDatabase then reuses, as a developer's second run would.
edit_loop.py measures the other end: one test, as a whole pytest process.

    python benchmarks/fixture_overhead.py [--backend sqlite|postgresql|mariadb] [--smoke]
        [--rounds 9] [--loop 60] [--tests 400] [--whole-rounds 3]

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

from flask_scoped_db import TestConnection

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


def in_process(
    url: str, chosen: dict[str, tuple[Strategy, str]], rounds: int, n: dict[str, int]
) -> dict[str, list[float]]:
    """Seconds per test of each strategy, one sample per round, all on one TestConnection."""
    app = strategies.create_app(url)

    def runner(strategy: Strategy, connection: TestConnection) -> t.Callable[[int], None]:
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
        with strategies.db.test_connection(app) as connection:
            shared = {
                name: runner(s, connection) for name, (s, _) in chosen.items() if name not in (CREATE_ALL, NO_BLOCKER)
            }
            interleaved(shared, 1, 1)  # untimed: mappers configured, statements compiled and cached
            samples = interleaved(shared, rounds, n)
            with strategies.own_pool(connection.engine), app.app_context():
                strategies.db.drop_all()
            samples |= interleaved({CREATE_ALL: runner(chosen[CREATE_ALL][0], connection)}, rounds, n)
            with strategies.own_pool(connection.engine), app.app_context():
                strategies.db.create_all()  # for the TestConnection to drop
    finally:
        with app.app_context():
            strategies.db.engine.dispose()
    return samples


# The line of conftest.py that makes the blocker autouse, which the "no blocker" run takes out.
BLOCKER = "@pytest.fixture(autouse=True)\ndef _block_the_database_outside_the_pair"
PROJECT_HEADER = (
    "import os\n\nimport pytest\nfrom fixture_strategies import create_app, db as bench_db, workload\n\n\n"
    '@pytest.fixture(scope="session")\ndef app():\n    return create_app(os.environ["TEST_DATABASE_URL"])\n\n\n'
    '@pytest.fixture(scope="session")\ndef db():\n    return bench_db\n\n\n'
)


def generated_run(directory: Path, strategy_name: str, tests: int) -> None:
    """Write a pytest project running ``tests`` tests on one strategy: the root conftest.py as it
    is (``strategy_name`` ""), changed ("no blocker", "no reset", "restart_ids"), or with its
    db_session replaced by the fixture_strategies generator of that name; "floor": no database."""
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
            if BLOCKER not in own:
                raise AssertionError(f"conftest.py has no {BLOCKER!r} any more: adapt fixture_overhead.BLOCKER")
            own = own.replace(BLOCKER, BLOCKER.replace("(autouse=True)", ""))
        elif strategy_name == "no reset":
            override = "\n\nfrom fixture_strategies import switch_off_the_reset\n\nswitch_off_the_reset(pytest.MonkeyPatch())\n"
        elif strategy_name == "restart_ids":
            body = "def test_{i}(db_session, restart_ids) -> None:\n    workload(db_session)\n"
        elif strategy_name:
            override = (
                f"\n\nfrom fixture_strategies import {strategy_name} as _strategy\n\n\n"
                "@pytest.fixture\ndef db_session(app, db, connection):\n"
                "    yield from _strategy(app, db, connection)\n"
            )
        (directory / "conftest.py").write_text(own + override)
        header = PROJECT_HEADER
    (directory / "test_generated.py").write_text(header + "\n\n".join(body.format(i=i) for i in range(tests)))


def pytest_env(url: str) -> dict[str, str]:
    """The environment of a generated project's pytest run: the checkout's flask_scoped_db.py and
    the benchmarks' modules importable, ``url`` as the database that conftest.py takes its own beside."""
    env = {**os.environ, "TEST_DATABASE_URL": url, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}"}
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def run_pytest(project: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    """One whole pytest process in ``project`` (no plugin that reorders or caches)."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", *options]
    return subprocess.run(command, check=False, cwd=project, env=env, capture_output=True, text=True)


def check_run(result: subprocess.CompletedProcess[str], expected: str, failures: list[str], what: str) -> None:
    """A correctness check: the run passed, and its last line says ``expected`` ("400 passed")."""
    last = (result.stdout.strip().splitlines() or ["no output"])[-1]
    ok = result.returncode == 0 and expected in last
    check(ok, failures, f"{what}: {last}" + ("" if ok else f"\n{result.stdout[-3000:]}{result.stderr[-3000:]}"))


def whole_runs(
    url: str, chosen: dict[str, tuple[Strategy, str]], rounds: int, tests: int, failures: list[str]
) -> dict[str, list[float]]:
    """Seconds per test of each strategy in whole pytest runs, one sample per round."""
    env = pytest_env(url)
    with tempfile.TemporaryDirectory() as directory:
        projects = {}
        for i, (name, (strategy, imported)) in enumerate(chosen.items()):
            projects[name] = Path(directory) / f"strategy{i}"
            generated_run(projects[name], "floor" if strategy is None else imported, tests)
            # Untimed: bytecode written, and (the first time) the run database made.
            check_run(
                run_pytest(projects[name], env, "--collect-only"), f"{tests} test", failures, f"collecting {name}"
            )

        def runner(name: str) -> t.Callable[[int], None]:
            def run(count: int) -> None:
                check_run(run_pytest(projects[name], env), f"{tests} passed", failures, f"pytest run of {name}")

            return run

        samples = interleaved({name: runner(name) for name in chosen}, rounds, 1)
    return {name: [s / tests for s in samples_] for name, samples_ in samples.items()}


def report(title: str, samples: dict[str, list[float]]) -> tuple[float, float, float]:
    """Print the table of medians (and each strategy's fastest and slowest round); return the
    pair's net cost over the bare fixture's, and create_all's and DELETE's over the pair's."""
    seconds = {name: median(s) for name, s in samples.items()}
    floor, pair, bare = seconds[FLOOR], seconds[PAIR], seconds[BARE]
    rows = [
        [
            name,
            f"{s * 1e6:,.0f}",
            f"{min(samples[name]) * 1e6:,.0f} / {max(samples[name]) * 1e6:,.0f}",
            f"{(s - floor) * 1e6:,.0f}",
            f"{(s - floor) / (pair - floor):.2f}",
        ]
        for name, s in seconds.items()
    ]
    print(f"\n{title}:")
    print(table(["strategy", "us/test (median)", "min / max", "net of the floor", "net / our pair's net"], rows))
    delete = seconds["DELETE every table"]
    create = seconds[CREATE_ALL]
    return (pair - floor) / (bare - floor), (create - floor) / (pair - floor), (delete - floor) / (pair - floor)


def extras(samples: dict[str, list[float]]) -> str:
    """What the state reset, restart_ids and the blocker cost per test, where measured."""
    seconds = {name: median(s) for name, s in samples.items()}
    pair = seconds[PAIR]
    parts = [f"A/A {(seconds[PAIR_AGAIN] - pair) * 1e6:+,.0f} us"]
    parts.append(f"reset {(pair - seconds[RESET_OFF]) * 1e6:+,.0f} us" if RESET_OFF in seconds else "")
    parts.append(f"restart_ids {(seconds[RESTART_IDS] - pair) * 1e6:+,.0f} us" if RESTART_IDS in seconds else "")
    parts.append(f"blocker {(pair - seconds[NO_BLOCKER]) * 1e6:+,.0f} us" if NO_BLOCKER in seconds else "")
    return ", ".join(part for part in parts if part)


def main() -> int:
    backends = ["sqlite", "postgresql", "mariadb"]
    args = arguments(__doc__.splitlines()[0], backends, rounds=9, loop=60, tests=400, whole_rounds=3)
    if args.smoke:
        args.rounds, args.loop, args.tests, args.whole_rounds = 2, 3, 5, 1
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
                runs = whole_runs(url, chosen, args.whole_rounds, args.tests, failures)
            except (AssertionError, pytest.fail.Exception) as e:
                check(False, failures, f"{backend}: {e}")
                continue
            finally:
                database.drop()
            ratios = report(f"{backend}, in one process ({args.rounds} interleaved rounds)", loop)
            whole = report(f"{backend}, whole pytest runs of {args.tests} tests ({args.whole_rounds} rounds)", runs)
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

"""What the benchmarks share: databases, interleaved timing, tables."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import typing as t
import uuid
from pathlib import Path

from sqlalchemy import URL
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # flask_scoped_db.py and conftest.py, as they are in this checkout

SERVERS = {
    "postgresql": os.environ.get("BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def arguments(description: str, backends: list[str], **counts: int) -> argparse.Namespace:
    """Parse --backend, --smoke and one --NAME option per count (the full run's default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", action="append", choices=backends, help="default: all of them")
    parser.add_argument("--smoke", action="store_true", help="tiny counts: correctness checks only, as in CI")
    for name, default in counts.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    args = parser.parse_args()
    args.backend = args.backend or backends
    return args


class Database:
    """A database of the benchmark's own on ``backend``, created now and dropped by :meth:`drop`.

    Named after ``name`` and a random suffix, so that two benchmarks (or CI's smoke runs, on machines
    that share the server) never drop each other's database.
    """

    def __init__(self, backend: str, name: str, directory: Path) -> None:
        self.backend = backend
        name = f"{name}_{uuid.uuid4().hex[:8]}"
        if backend == "sqlite":
            self.url: URL = make_url(f"sqlite:///{directory / name}.db")
            self._server: URL | None = None
        else:
            self._server = make_url(SERVERS[backend])
            self.url = self._server.set(database=name)
            self._run(f"CREATE DATABASE {name}")

    def runs(self) -> list[str]:
        """The run databases that conftest.py's TestDatabase made beside this one (``<name>_run0``,
        ``<name>_run1``, ...: it leaves them for the next run to reuse): names, or SQLite files."""
        stem = self.url.database or ""
        if self._server is None:
            stem = Path(stem).stem
            found = [path.stem for path in Path(self.url.database or "").parent.glob("*.db")]
        else:
            found = self._run("SELECT datname FROM pg_database" if self.backend == "postgresql" else "SHOW DATABASES")
        return sorted(name for name in found if re.fullmatch(rf"{re.escape(stem)}_run\d+", name))

    def drop(self) -> None:
        """Drop the database and its run databases (:meth:`runs`)."""
        if self._server is None:
            return  # SQLite: the files are in the benchmark's temporary directory
        force = " WITH (FORCE)" if self.backend == "postgresql" else ""
        for name in [*self.runs(), self.url.database]:
            self._run(f"DROP DATABASE IF EXISTS {name}{force}")

    def _run(self, sql: str) -> list[t.Any]:
        """Run one statement on the server, in autocommit; its first column's values, if any."""
        assert self._server is not None
        engine = create_engine(self._server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.exec_driver_sql(sql)
                return list(result.scalars()) if result.returns_rows else []
        finally:
            engine.dispose()


def interleaved(
    contenders: dict[str, t.Callable[[int], None]], rounds: int, n: int | dict[str, int]
) -> dict[str, list[float]]:
    """Seconds per operation of each contender, one sample per round.

    Each round runs every contender for ``n`` operations (or ``n[name]``), in an
    order rotated by one each round (A B C, then B C A, ...), so that drift and
    noise on this busy machine fall on all of them alike.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            count = n if isinstance(n, int) else n[name]
            start = time.perf_counter()
            contenders[name](count)
            samples[name].append((time.perf_counter() - start) / count)
    return samples


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table, columns right-aligned but the first."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(row[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def check(condition: bool, failures: list[str], message: str) -> None:
    """Record a correctness failure (never a timing: those are only reported)."""
    if not condition:
        failures.append(message)
        print(f"CHECK FAILED: {message}")

"""Shared data and real commits: what SharedData saves a module, what a real-commit test costs.

The schema is the shop example's (examples/shop): customer, shop_order and order_line, with their
foreign keys, a unique index and relationships. Each contender runs on one TestConnection, on a
run database that TestDatabase makes beside a database of the benchmark's own (random suffix,
dropped at the end), as conftest.py does.

- A module of 30 tests that share 500 rows (50 customers, each with 3 orders of 2 lines), as ORM
  objects. Per test (A): each test writes them itself (``db.session.add_all``, ``commit()``) in
  ``connection.transaction()``. Shared (B): one ``connection.shared_data()`` writes them once, each
  test runs in ``connection.transaction()``, where the 500 objects are moved into its
  ``db.session``, and ``data.close()`` rolls them back. Either way each test then reads: the names
  of 5 customers (expired: one SELECT each), one customer's orders and their lines (lazy loads),
  that customer's total (a join) and the number of customers (which must be 50). Timed: the whole
  module, the shared write included; reported: B/A, and A/A (the same module timed twice).
- A real-commit test: it writes 10 rows (a customer, 3 orders, 6 lines), commits, and counts the
  lines, in ``connection.transaction(real_commits=True)`` against ``connection.transaction()``; the
  tables are empty before it, as in a run whose real-commit tests come first. Reported: real/pair
  per test, and pair/pair (A/A).

Interleaved rounds (A B C, then B C A, ...) after one untimed round; the ratios are medians of
each round's ratio. On PostgreSQL the tables are vacuumed (untimed) before each contender's run:
the dead rows of the rolled-back writes (15,000 a module of A) would otherwise slow whatever runs
after them, more and more. Checked, untimed, first: a real commit is seen by another connection and gone
after the test, whose ids restart; a test's change to a shared object is gone in the next test;
the shared rows are gone after ``close()``.

    python benchmarks/shared_data.py [--backend sqlite|postgresql|mariadb] [--smoke]
        [--rounds 9] [--tests 30] [--loop 40]

Exits non-zero only if a correctness check fails, never on a timing.
"""

from __future__ import annotations

import argparse
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
from flask import Flask
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import scoped_session
from sqlalchemy.pool import NullPool

from flask_scoped_db import ScopedDB
from flask_scoped_db import TestConnection
from flask_scoped_db import TestDatabase


class Base(DeclarativeBase):
    pass


db = ScopedDB(model_class=Base)


class Customer(Base):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    orders: Mapped[list[Order]] = relationship(back_populates="customer", cascade="all, delete-orphan")


class Order(Base):
    __tablename__ = "shop_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )


class OrderLine(Base):
    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"))
    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    price_cents: Mapped[int]


CUSTOMERS, ORDERS, LINES = 50, 3, 2  # 50 + 150 + 300 = 500 rows
PER_TEST, SHARED, PER_TEST_AGAIN = "per test (A)", "shared (B)", "per test again (A/A)"
PAIR, REAL, PAIR_AGAIN = "pair (transaction())", "real commits", "pair again (A/A)"
DbSession = scoped_session[Session]
Samples = dict[str, list[float]]  # seconds per module or test, one per round, of each contender


def customer(i: int) -> Customer:
    """A customer with ORDERS orders of LINES lines: 1 + 3 + 6 = 10 rows."""
    orders = [
        Order(lines=[OrderLine(product=f"p{i}-{j}-{k}", quantity=k + 1, price_cents=100 * j + k) for k in range(LINES)])
        for j in range(ORDERS)
    ]
    return Customer(email=f"c{i}@example.com", name=f"Customer {i}", orders=orders)


def write(session: DbSession) -> tuple[list[Customer], list[Base]]:
    """Write the 500 rows and commit; the customers, and every object (held: all of them are shared)."""
    customers = [customer(i) for i in range(CUSTOMERS)]
    session.add_all(customers)
    session.commit()
    held = [o for c in customers for o in [c, *c.orders, *(line for order in c.orders for line in order.lines)]]
    return customers, held


def read(session: DbSession, customers: list[Customer]) -> None:
    """What each test of the module checks, through the objects and a query."""
    names = [c.name for c in customers[:5]]
    assert names == [f"Customer {i}" for i in range(5)], names
    chosen = customers[7]
    assert [len(order.lines) for order in chosen.orders] == [LINES] * ORDERS
    total = select(func.sum(OrderLine.quantity * OrderLine.price_cents)).join(Order)
    assert session.scalar(total.where(Order.customer_id == chosen.id)) == 906
    count = session.scalar(select(func.count()).select_from(Customer))
    assert count == CUSTOMERS, f"the test saw {count} customers, not {CUSTOMERS}: a leak"


def module(connection: TestConnection, tests: int, shared: bool) -> None:
    """One module of ``tests`` tests, each writing the rows itself, or sharing them."""
    if not shared:
        for _ in range(tests):
            with connection.transaction() as session:
                customers, _held = write(session)  # held for the test, as the shared ones are
                read(session, customers)
        return
    data = connection.shared_data()
    try:
        with data as session:
            customers, _held = write(session)
        for _ in range(tests):
            with connection.transaction() as session:
                read(session, customers)
    finally:
        data.close()


def real_commit_test(connection: TestConnection, real: bool) -> None:
    """The real-commit contender's test, or the pair's: 10 rows written, committed and counted."""
    with connection.transaction(real_commits=real) as session:
        session.add(customer(0))
        session.commit()
        assert session.scalar(select(func.count()).select_from(OrderLine)) == ORDERS * LINES


def checks(connection: TestConnection, url: str, failures: list[str]) -> None:
    """What the timings rest on, checked once (untimed) on the backend."""
    other = create_engine(url, poolclass=NullPool)  # another process's view of the database
    backend = other.dialect.name

    def customers() -> int:
        with other.connect() as seen:
            return seen.scalar(select(func.count()).select_from(Customer)) or 0

    try:
        ids = []
        for _ in range(2):
            with connection.transaction(real_commits=True) as session:
                session.add(new := customer(0))
                session.commit()
                check(customers() == 1, failures, f"{backend}: another connection does not see the real commit")
                ids.append(new.id)
            check(customers() == 0, failures, f"{backend}: a real-commit test's rows stayed")
        check(ids == [1, 1], failures, f"{backend}: the real-commit tests' ids were {ids}, not [1, 1]")
        data = connection.shared_data()
        with data as session:
            shared, _held = write(session)
        with connection.transaction() as session:
            shared[0].name = "changed"
            session.commit()
        with connection.transaction():
            check(shared[0].name == "Customer 0", failures, f"{backend}: a test's change to shared data stayed")
        data.close()
        with connection.transaction() as session:
            count = session.scalar(select(func.count()).select_from(Customer))
            check(count == 0, failures, f"{backend}: {count} shared customers stayed after close()")
    finally:
        other.dispose()


def measure(connection: TestConnection, url: str, rounds: int, tests: int, loop: int) -> list[Samples]:
    """Seconds per module, and per real-commit test, of each contender: one sample per round."""
    cleaner = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")

    def modules(shared: bool) -> t.Callable[[int], None]:
        def run(count: int) -> None:
            for _ in range(count):
                module(connection, tests, shared)

        return run

    def commits(real: bool) -> t.Callable[[int], None]:
        def run(count: int) -> None:
            for _ in range(count):
                real_commit_test(connection, real)

        return run

    def vacuum() -> None:
        if cleaner.dialect.name == "postgresql":
            with cleaner.connect() as vacuuming:
                vacuuming.exec_driver_sql(f"VACUUM {', '.join(Base.metadata.tables)}")

    measured = []
    for contenders, n in [
        ({PER_TEST: modules(False), SHARED: modules(True), PER_TEST_AGAIN: modules(False)}, 1),
        ({PAIR: commits(False), REAL: commits(True), PAIR_AGAIN: commits(False)}, loop),
    ]:
        interleaved(contenders, 1, 1)  # untimed: mappers configured, statements compiled and cached
        names, samples = list(contenders), {name: list[float]() for name in contenders}
        for round_ in range(rounds):  # interleaved()'s rotation, with an untimed vacuum before each run
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                vacuum()
                samples[name] += interleaved({name: contenders[name]}, 1, n)[name]
        measured.append(samples)
    cleaner.dispose()
    return measured


def report(title: str, samples: Samples) -> str:
    """Print one table (the first contender is the baseline); return the ratios, per round."""
    names = list(samples)
    base = samples[names[0]]

    def per_round(name: str) -> float:
        return median([s / b for s, b in zip(samples[name], base)])

    rows = [
        [
            name,
            f"{min(s) * 1e3:,.1f} / {median(s) * 1e3:,.1f} / {max(s) * 1e3:,.1f}",
            f"{median(s) / median(base):.3f}",
            f"{per_round(name):.3f}",
        ]
        for name, s in samples.items()
    ]
    print(f"\n{title}:")
    print(table(["contender", "min / median / max", f"/ {names[0]}", "per round"], rows))
    return f"{names[1]}/{names[0]} {per_round(names[1]):.3f}x (A/A {per_round(names[2]):.3f}x)"


def on_backend(backend: str, directory: Path, args: argparse.Namespace, failures: list[str]) -> list[Samples]:
    """Check and measure on a database of the benchmark's own, and the run's database that
    TestDatabase takes beside it (as conftest.py does); drop both."""
    database = Database(backend, "flask_scoped_db_shared_bench", directory)
    try:
        run_database = TestDatabase(database.url)
        try:
            url = run_database.open().render_as_string(hide_password=False)
            app = Flask("shared_data_benchmark")
            app.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI=url)
            db.init_app(app)
            try:
                with db.test_connection(app) as connection:
                    checks(connection, url, failures)
                    return measure(connection, url, args.rounds, args.tests, args.loop)
            finally:
                with app.app_context():
                    db.engine.dispose()
        finally:
            run_database.close()
    finally:
        database.drop()


def main() -> int:
    args = arguments(__doc__.splitlines()[0], ["sqlite", "postgresql", "mariadb"], rounds=9, tests=30, loop=40)
    if args.smoke:
        args.rounds, args.tests, args.loop = 1, 3, 2
    failures: list[str] = []
    summary = []
    with tempfile.TemporaryDirectory() as directory:
        for backend in args.backend:
            start = time.perf_counter()
            try:
                modules, commits = on_backend(backend, Path(directory), args, failures)
            except AssertionError as e:  # a test's assert, or a TestFailure
                check(False, failures, f"{backend}: {e}")
                continue
            shared = report(f"{backend}, ms per module of {args.tests} tests ({args.rounds} rounds)", modules)
            real = report(f"{backend}, ms per real-commit test ({args.rounds} rounds of {args.loop})", commits)
            summary.append(f"{backend}: {shared}, {real} [{time.perf_counter() - start:.0f}s]")
    print()
    print("shared_data:", "; ".join(summary), "| checks:", "FAILED" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

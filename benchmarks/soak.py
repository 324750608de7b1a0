"""Soak: a threaded WSGI server under failing requests never leaks a connection or a row.

A waitress server on 127.0.0.1 (8 threads) serves an app on PostgreSQL with
``pool_size=5, max_overflow=0``. Eight client threads send 2,000 requests each:
70% a normal query (200), 20% a view that flushes a row, queries and raises (500),
10% a view that hits an IntegrityError, rolls back and goes on (200). Checks:
every status as expected, no pool timeout, no connection checked out at the end,
and no row of a failed request committed. ScopedDB and the hand-wired baseline
run in turn (A B B A ...); the report gives requests/s and their ratio.

Each check is shown to bite: a negative control, an app with one thing wrong,
must fail it (no teardown remove(): connections stay out and the pool times out;
no rollback after the IntegrityError: statuses go wrong; a failing view that
commits: its rows survive).

    python benchmarks/soak.py [--requests 2000] [--smoke]

Bounded in count and time; stops by itself. Exits non-zero only if a check fails
for ScopedDB or the baseline, or a negative control does not fail its check.
"""

from __future__ import annotations

import gc
import http.client
import logging
import random
import statistics
import tempfile
import threading
import time
import typing as t
import uuid
from pathlib import Path

from common import Database
from common import arguments
from common import check
from common import table
from flask import Flask
from flask.globals import app_ctx
from sqlalchemy import Engine
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import NullPool
from waitress import wasyncore  # type: ignore[import-untyped]
from waitress.server import create_server  # type: ignore[import-untyped]

from flask_scoped_db import ScopedDB

CLIENTS = 8
POOL = {"pool_size": 5, "max_overflow": 0}
EXPECTED = {"/ok": 200, "/fail": 500, "/conflict": 200}
DEADLINE = 600  # seconds for one run, at the most


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "soak_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class App(t.NamedTuple):
    app: Flask
    engine: Engine
    pool_timeouts: list[int]


def build(kind: str, url: str, pool_timeout: float) -> App:
    """An app of ``kind``: "ScopedDB", "hand-wired", or a negative control."""
    app = Flask(kind)
    app.logger.disabled = True  # the failing views' tracebacks, by the thousand
    options = {**POOL, "pool_timeout": pool_timeout}
    session: t.Callable[[], Session]
    if kind == "ScopedDB":
        app.config["SQLALCHEMY_DATABASE_URI"] = url
        db = ScopedDB(app, engine_options=options)
        session = db.session
        with app.app_context():
            engine = db.engine
    else:
        engine = create_engine(url, **options)
        registry = scoped_session(sessionmaker(bind=engine), scopefunc=app_ctx._get_current_object)  # type: ignore[attr-defined]
        if kind != "control: no teardown remove()":
            app.teardown_appcontext(lambda exc: registry.remove())
        session = registry
    pool_timeouts: list[int] = []

    @app.errorhandler(PoolTimeout)
    def timed_out(error: PoolTimeout) -> tuple[str, int]:
        pool_timeouts.append(1)
        return "pool timeout", 503

    @app.get("/ok")
    def ok() -> str:
        return str(session().scalar(select(func.count()).select_from(Row)))

    @app.post("/fail")
    def fail() -> str:
        session().add(Row(name=f"failed-{uuid.uuid4()}"))
        session().flush()
        session().scalar(select(func.count()).select_from(Row))
        if kind == "control: a failing view commits":
            session().commit()
        raise RuntimeError("the view failed after a flush")

    @app.post("/conflict")
    def conflict() -> str:
        session().add(Row(name="duplicate"))
        try:
            session().commit()
        except IntegrityError:
            if kind != "control: no rollback after IntegrityError":
                session().rollback()
        session().add(Row(name=f"ok-{uuid.uuid4()}"))
        session().commit()
        return "went on"

    return App(app, engine, pool_timeouts)


def soak(subject: App, url: str, requests: int, seed: int) -> dict[str, t.Any]:
    """Serve ``subject`` with waitress and drive it; return what the checks need."""
    sockets: dict[int, t.Any] = {}
    server = create_server(subject.app, map=sockets, host="127.0.0.1", port=0, threads=CLIENTS)
    port = server.effective_port
    stopping = threading.Event()

    def serve() -> None:
        # waitress's own run() loops until its sockets are closed, which another thread can only do
        # under its select() or through its trigger's pipe; this loop stops between two polls and
        # closes them in the same thread (close_all passes over a descriptor already gone).
        while not stopping.is_set():
            wasyncore.loop(timeout=0.05, map=sockets, count=1)
        server.task_dispatcher.shutdown()
        wasyncore.close_all(sockets)

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    wrong: list[tuple[str, int]] = []
    deadline = time.monotonic() + DEADLINE

    def client(number: int) -> None:
        rng = random.Random(seed * 100 + number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(requests):
            if time.monotonic() > deadline:
                wrong.append(("deadline", 0))
                return
            path = rng.choices(list(EXPECTED), weights=[70, 20, 10])[0]
            connection.request("GET" if path == "/ok" else "POST", path)
            response = connection.getresponse()
            response.read()
            if response.status != EXPECTED[path]:
                wrong.append((path, response.status))
        connection.close()

    start = time.perf_counter()
    clients = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    elapsed = time.perf_counter() - start
    stopping.set()
    serving.join(timeout=10)
    checked_out = subject.engine.pool.checkedout()  # type: ignore[attr-defined]
    counting = create_engine(url, poolclass=NullPool)  # the app's pool may be exhausted (a control)
    with counting.connect() as connection:
        survivors = connection.scalar(select(func.count()).where(Row.name.like("failed-%")))
    counting.dispose()
    return {
        "requests/s": CLIENTS * requests / elapsed,
        "wrong statuses": len(wrong),
        "pool timeouts": len(subject.pool_timeouts),
        "checked out at the end": checked_out,
        "failed requests' rows committed": survivors or 0,
    }


CHECKS = ["wrong statuses", "pool timeouts", "checked out at the end", "failed requests' rows committed"]
CONTROLS = {  # each negative control, and the check it must fail
    "control: no teardown remove()": "checked out at the end",
    "control: no rollback after IntegrityError": "wrong statuses",
    "control: a failing view commits": "failed requests' rows committed",
}


def reset(engine: Engine) -> None:
    """Fresh tables, after ending every other connection to the database: a negative
    control leaves transactions open that would block DROP TABLE for ever."""
    with engine.connect() as connection:
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Row(name="duplicate"))
        session.commit()


def main() -> int:
    logging.getLogger("waitress").setLevel(logging.ERROR)  # "task queue depth" notes under load
    args = arguments(__doc__.splitlines()[0], ["postgresql"], requests=2000, rounds=4)
    if args.smoke:
        args.requests, args.rounds = 40, 2
    failures: list[str] = []
    results: dict[str, list[dict[str, t.Any]]] = {"ScopedDB": [], "hand-wired": []}
    with tempfile.TemporaryDirectory() as directory:
        database = Database("postgresql", "flask_scoped_db_soak", Path(directory))
        url = database.url.render_as_string(hide_password=False)
        try:
            order = ["ScopedDB", "hand-wired", "hand-wired", "ScopedDB"]  # A B B A: drift falls on both
            for round_ in range(args.rounds):
                kind = order[round_ % len(order)]
                subject = build(kind, url, pool_timeout=30)
                reset(subject.engine)
                results[kind].append(soak(subject, url, args.requests, seed=round_))
                subject.engine.dispose()
            for control, must_fail in CONTROLS.items():
                subject = build(control, url, pool_timeout=1)
                reset(subject.engine)
                outcome = soak(subject, url, 10, seed=99)
                engine = subject.engine
                del subject
                gc.collect()  # the Sessions a control leaked give their connections back while they work
                engine.dispose()
                check(outcome[must_fail] != 0, failures, f"{control} passed the check '{must_fail}': it does not bite")
                print(f"{control}: {must_fail} = {outcome[must_fail]} (must not be 0: the check bites)")
        finally:
            database.drop()
    rows = []
    for kind, runs in results.items():
        for name in CHECKS:
            total = sum(run[name] for run in runs)
            check(total == 0, failures, f"{kind}: {name} = {total}")
        rates = [run["requests/s"] for run in runs]
        rows.append([kind, f"{statistics.median(rates):,.0f}", *(str(sum(run[c] for run in runs)) for c in CHECKS)])
    ratio = statistics.median(r["requests/s"] for r in results["ScopedDB"]) / statistics.median(
        r["requests/s"] for r in results["hand-wired"]
    )
    total = CLIENTS * args.requests
    print(f"\nPostgreSQL, waitress with {CLIENTS} threads, {CLIENTS} clients x {args.requests} requests, {POOL}:")
    print(table(["app", "requests/s (median)", *CHECKS], rows))
    print()
    print(
        f"soak: {total:,} requests per run, {args.rounds} runs; ScopedDB {ratio:.3f}x the hand-wired throughput;"
        f" checks: {'FAILED: ' + '; '.join(failures) if failures else 'all passed, and every negative control bit'}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

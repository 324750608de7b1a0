"""Per-request cost of the Flask + SQLAlchemy glue: ScopedDB against the alternatives.

Each contender is an app of its own whose view does one primary-key lookup and one
filtered SELECT over a 100-row table. It is driven through its WSGI callable, and
again through ``app.test_client()``. The floor is the same view with no database.
The "hand-wired" app is the practical limit: ``scoped_session(sessionmaker(...),
scopefunc=<app context>)`` with ``remove()`` at teardown and nothing else. It is
built twice (the A/A row), to show the noise band.

    python benchmarks/request_overhead.py [--backend sqlite|postgresql] [--smoke]

Exits non-zero only if a correctness check fails, never on a timing.
"""

from __future__ import annotations

import tempfile
import typing as t
from pathlib import Path

import flask_sqlalchemy
import flask_sqlalchemy_lite
from common import Database
from common import arguments
from common import check
from common import interleaved
from common import median
from common import table
from flask import Flask
from flask.globals import app_ctx
from sqlalchemy import Engine
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool
from werkzeug.test import EnvironBuilder

from flask_scoped_db import ScopedDB

ROWS = 100


def row_class(base: type[t.Any]) -> type[t.Any]:
    """A class mapped onto the benchmark's table, on ``base``."""
    attributes = {
        "__tablename__": "bench_row",
        "id": mapped_column(Integer, primary_key=True),
        "grp": mapped_column(Integer, index=True),
        "name": mapped_column(String(50)),
    }
    return type("Row", (base,), attributes)


def add_view(app: Flask, session: t.Callable[[], t.Any] | None, row: type[t.Any] | None) -> None:
    @app.get("/row/<int:ident>")
    def view(ident: int) -> str:
        if session is None or row is None:  # the floor
            return f"row{ident} 10"
        found = session().get(row, ident)
        assert found is not None
        names = session().scalars(select(row.name).where(row.grp == found.grp)).all()
        return f"{found.name} {len(names)}"

    @app.get("/glue")
    def glue() -> str:
        """Uses the Session but sends no SQL: what is left is the glue's own cost."""
        if session is not None:
            session().info["seen"] = session().info.get("seen", 0) + 1
        return "glue"


def floor(url: str) -> tuple[Flask, Engine | None]:
    app = Flask("floor")
    add_view(app, None, None)
    return app, None


def hand_wired(url: str) -> tuple[Flask, Engine | None]:
    app = Flask("hand_wired")
    engine = create_engine(url)

    class Base(DeclarativeBase):
        pass

    registry = scoped_session(sessionmaker(bind=engine), scopefunc=app_ctx._get_current_object)  # type: ignore[attr-defined]
    app.teardown_appcontext(lambda exc: registry.remove())
    add_view(app, registry, row_class(Base))
    return app, engine


def flask_sqlalchemy_app(url: str) -> tuple[Flask, Engine | None]:
    app = Flask("flask_sqlalchemy")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db = flask_sqlalchemy.SQLAlchemy(app)
    add_view(app, lambda: db.session, row_class(db.Model))
    with app.app_context():
        return app, db.engine


def flask_sqlalchemy_lite_app(url: str) -> tuple[Flask, Engine | None]:
    app = Flask("flask_sqlalchemy_lite")
    app.config["SQLALCHEMY_ENGINES"] = {"default": url}
    db = flask_sqlalchemy_lite.SQLAlchemy(app)

    class Base(DeclarativeBase):
        pass

    add_view(app, lambda: db.session, row_class(Base))
    with app.app_context():
        return app, db.engine


def scoped_db_app(url: str) -> tuple[Flask, Engine | None]:
    app = Flask("scoped_db")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db = ScopedDB(app)
    add_view(app, db.session, row_class(db.Model))
    with app.app_context():
        return app, db.engine


FLOOR = "floor (no database)"
CONTENDERS: dict[str, t.Callable[[str], tuple[Flask, Engine | None]]] = {
    FLOOR: floor,
    "hand-wired": hand_wired,
    "hand-wired, A/A": hand_wired,
    "Flask-SQLAlchemy": flask_sqlalchemy_app,
    "Flask-SQLAlchemy-Lite": flask_sqlalchemy_lite_app,
    "ScopedDB": scoped_db_app,
}


def wsgi_driver(app: Flask, glue_only: bool = False) -> t.Callable[[int], None]:
    paths = ["/glue"] if glue_only else [f"/row/{i}" for i in range(1, ROWS + 1)]
    environs = [EnvironBuilder(path=path).get_environ() for path in paths]

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: t.Any = None) -> t.Any:
        return None

    def run(n: int) -> None:
        for i in range(n):
            response = app.wsgi_app(dict(environs[i % len(environs)]), start_response)
            b"".join(response)
            getattr(response, "close", lambda: None)()

    return run


def glue_driver(app: Flask) -> t.Callable[[int], None]:
    return wsgi_driver(app, glue_only=True)


def test_client_driver(app: Flask) -> t.Callable[[int], None]:
    client = app.test_client()

    def run(n: int) -> None:
        for i in range(n):
            client.get(f"/row/{i % ROWS + 1}")

    return run


def fill(url: str) -> None:
    metadata = MetaData()
    row_class(type("Base", (DeclarativeBase,), {"metadata": metadata}))
    engine = create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        rows = [{"id": i, "grp": i % 10, "name": f"row{i}"} for i in range(1, ROWS + 1)]
        connection.execute(insert(metadata.tables["bench_row"]), rows)
    engine.dispose()


def main() -> int:
    args = arguments(__doc__.splitlines()[0], ["sqlite", "postgresql"], rounds=41, requests=200)
    if args.smoke:
        args.rounds, args.requests = 3, 20
    failures: list[str] = []
    summary: list[str] = []
    with tempfile.TemporaryDirectory() as directory:
        for backend in args.backend:
            database = Database(backend, "flask_scoped_db_bench", Path(directory))
            url = database.url.render_as_string(hide_password=False)
            try:
                fill(url)
                apps = {name: make(url) for name, make in CONTENDERS.items()}
                for app, _ in apps.values():
                    for i in (1, 57):
                        body = app.test_client().get(f"/row/{i}").get_data(as_text=True)
                        check(body == f"row{i} 10", failures, f"{app.name} on {backend} answered {body!r}")
                modes = {
                    "WSGI": (wsgi_driver, args.requests),
                    "test_client": (test_client_driver, args.requests),
                    "WSGI, glue only (the Session used, no SQL sent)": (glue_driver, args.requests * 10),
                }
                for mode, (driver, n) in modes.items():
                    samples = interleaved({name: driver(app) for name, (app, _) in apps.items()}, args.rounds, n)
                    summary.append(report(backend, mode, samples))
                for name, (app, engine) in apps.items():
                    if engine is not None and isinstance(engine.pool, QueuePool):
                        left = engine.pool.checkedout()
                        check(left == 0, failures, f"{name} on {backend} left {left} connection(s) checked out")
                    if engine is not None:
                        engine.dispose()
            finally:
                database.drop()
    print()
    print("request_overhead:", "; ".join(summary), "| checks:", "FAILED" if failures else "all passed")
    return 1 if failures else 0


def report(backend: str, mode: str, samples: dict[str, list[float]]) -> str:
    """Print one table; return the summary clause.

    Ratios are taken within each round, between runs made back to back, and then
    their median over the rounds: that cancels most of this machine's drift.
    """
    floor_, hand = samples[FLOOR], samples["hand-wired"]

    def ratio(name: str) -> float:
        return median([s / h for s, h in zip(samples[name], hand)])

    def overhead(name: str) -> float:
        return median([(s - f) / (h - f) for s, f, h in zip(samples[name], floor_, hand)])

    rows = [
        [
            name,
            f"{median(s) * 1e6:.1f}",
            f"{ratio(name):.3f}",
            "" if name == FLOOR else f"{overhead(name):.3f}",
        ]
        for name, s in samples.items()
    ]
    headers = ["contender", "us/request (median)", "ratio to hand-wired", "overhead beyond floor / hand-wired's"]
    print(f"\n{backend}, through {mode}:")
    print(table(headers, rows))
    lite = median(
        [(li - f) / (s - f) for li, s, f in zip(samples["Flask-SQLAlchemy-Lite"], samples["ScopedDB"], floor_)]
    )
    return (
        f"{backend}/{mode}: ScopedDB overhead {overhead('ScopedDB'):.3f}x hand-wired's"
        f" (A/A {overhead('hand-wired, A/A'):.3f}x, Flask-SQLAlchemy {overhead('Flask-SQLAlchemy'):.3f}x),"
        f" Flask-SQLAlchemy-Lite's {lite:.2f}x ScopedDB's"
    )


if __name__ == "__main__":
    raise SystemExit(main())

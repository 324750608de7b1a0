"""The app and the test-isolation strategies that fixture_overhead.py compares.

Each strategy is a generator with the signature of a ``db_session`` fixture
that gets conftest.py's ``app``, ``db`` and ``connection`` (a
``flask_scoped_db.TestConnection``): it yields the session a test uses, and
cleans up after the test. fixture_overhead.py drives them in a loop, and in
whole pytest runs as the body of a ``db_session`` fixture.
"""

from __future__ import annotations

import typing as t
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session

import flask_scoped_db
from flask_scoped_db import ScopedDB
from flask_scoped_db import TestConnection

TABLES = 30


class Base(DeclarativeBase):
    pass


def _table(i: int) -> type[t.Any]:
    attributes = {
        "__tablename__": f"bench_t{i:02}",
        "id": mapped_column(Integer, primary_key=True),
        "parent_id": mapped_column(ForeignKey(f"bench_t{max(i - 1, 0):02}.id"), nullable=True),
        "name": mapped_column(String(50), index=True),
    }
    return type(f"T{i:02}", (Base,), attributes)


MODELS = [_table(i) for i in range(TABLES)]
db = ScopedDB(model_class=Base)


def create_app(url: str) -> Flask:
    app = Flask("fixture_benchmark")
    app.config.update(TESTING=True, SQLALCHEMY_DATABASE_URI=url)
    db.init_app(app)
    return app


def workload(session: Session | scoped_session[Session]) -> None:
    """What every benchmarked test does: insert 3 rows, commit, read them back."""
    model = MODELS[0]
    session.add_all([model(name=f"row {i}") for i in range(3)])
    session.commit()
    count = session.scalar(select(func.count()).select_from(model))
    assert count == 3, f"the test saw {count} rows, not 3: an earlier test leaked"


SessionIterator = t.Iterator[Session | scoped_session[Session]]


def bare_savepoint(app: Flask, db: ScopedDB, connection: TestConnection) -> SessionIterator:
    """The SQLAlchemy docs' recipe with no Flask: a Session joined to a transaction on the run's connection."""
    bare = connection.connection
    transaction = bare.begin()
    if bare.dialect.driver == "pysqlite" and not bare.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        bare.exec_driver_sql("BEGIN")  # the pysqlite fix that any correct SQLite fixture needs
    session = Session(bind=bare, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    transaction.rollback()


def pair(app: Flask, db: ScopedDB, connection: TestConnection, *, restart_ids: bool = False) -> SessionIterator:
    """The pair's test transaction, as conftest.py's db_session opens it (optionally with restart_ids)."""
    with connection.transaction(restart_ids=restart_ids) as session:
        yield session


def pair_with_restart_ids(app: Flask, db: ScopedDB, connection: TestConnection) -> SessionIterator:
    """Our pair, with the opt-in restart of every autoincrement counter before each test."""
    yield from pair(app, db, connection, restart_ids=True)


def no_reset(connection: Connection, *args: object) -> None:
    """Stands in for flask_scoped_db's ``_reset_postgresql_session`` and ``_reset_mariadb_session``
    (whatever their other arguments): resets nothing."""


def switch_off_the_reset(patch: pytest.MonkeyPatch) -> None:
    """Replace flask_scoped_db's per-backend state resets with no-ops (its ``_begin_clean`` looks
    them up on each call); fails if either is renamed, rather than measuring nothing."""
    patch.setattr(flask_scoped_db, "_reset_postgresql_session", no_reset)
    patch.setattr(flask_scoped_db, "_reset_mariadb_session", no_reset)


def pair_without_state_reset(app: Flask, db: ScopedDB, connection: TestConnection) -> SessionIterator:
    """Our pair with the per-backend session-state reset switched off, to measure the reset."""
    with pytest.MonkeyPatch.context() as patch:
        switch_off_the_reset(patch)
        yield from pair(app, db, connection)


@contextmanager
def own_pool(engine: Engine) -> t.Iterator[None]:
    """The engine's own pool back for a strategy that is not the pair: while
    the pair runs, the TestConnection's pool (flask_scoped_db._TestPool) refuses
    connections outside a test transaction; ``.original`` is the app's own."""
    test_pool = engine.pool
    engine.pool = getattr(test_pool, "original", test_pool)
    try:
        yield
    finally:
        engine.pool = test_pool


def _in_app_context(app: Flask, db: ScopedDB) -> SessionIterator:
    with app.app_context():
        yield db.session


def create_all_drop_all(app: Flask, db: ScopedDB, connection: TestConnection) -> SessionIterator:
    """Fresh tables for every test."""
    with own_pool(connection.engine):
        with app.app_context():
            db.create_all()
        yield from _in_app_context(app, db)
        with app.app_context():
            db.drop_all()


def delete_all(app: Flask, db: ScopedDB, connection: TestConnection) -> SessionIterator:
    """DELETE FROM every table after every test."""
    with own_pool(connection.engine):
        yield from _in_app_context(app, db)
        with app.app_context(), db.engine.begin() as cleaning:
            for table in reversed(db.metadata.sorted_tables):
                cleaning.execute(table.delete())


def truncate_all(app: Flask, db: ScopedDB, connection: TestConnection) -> SessionIterator:
    """TRUNCATE every table after every test (database servers only)."""
    with own_pool(connection.engine):
        yield from _in_app_context(app, db)
        names = [table.name for table in db.metadata.sorted_tables]
        with app.app_context(), db.engine.begin() as cleaning:
            if cleaning.dialect.name == "postgresql":
                cleaning.exec_driver_sql(f"TRUNCATE {', '.join(names)}")
            else:
                cleaning.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
                for name in names:
                    cleaning.exec_driver_sql(f"TRUNCATE {name}")
                cleaning.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")

# SPDX-License-Identifier: MIT
"""Run every test inside one database transaction that is rolled back.

A worked example to copy into your project. Replace the example app below
(``Base``, ``Item``, ``create_app``) and the ``app`` and ``db`` fixtures with
your own; ``connection``, ``db_session``, ``client`` and
``assert_num_queries`` need nothing else. README.md ("Testing") explains it.

``TEST_DATABASE_URL`` names the database server (default: an SQLite file in
the current directory). The tests never touch that database itself: each test
process creates its own beside it (``<name>_main``, or ``<name>_gw0`` ... under
pytest-xdist), exports its URL as ``TEST_DATABASE_URL`` and drops it at exit.
"""

from __future__ import annotations

import os
import re
import typing as t
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.pool import NullPool
from sqlalchemy.pool import QueuePool

from flask_scoped_db import ScopedDB

# -- The example app: replace this part with an import of your own. ----------


class Base(DeclarativeBase):
    """The example models' base class; ScopedDB sets ``query``, declared here for type checkers."""

    query: t.ClassVar[QueryPropertyDescriptor]


db = ScopedDB(model_class=Base)


class Item(Base):
    """The example model: a name that must be unique, which lets tests provoke an IntegrityError."""

    __tablename__ = "item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


def create_app(config: dict[str, t.Any]) -> Flask:
    """The example app factory, with a view that commits and one that lists."""
    app = Flask(__name__)
    app.config.update(config)
    db.init_app(app)

    @app.post("/items/<name>")
    def add_item(name: str) -> tuple[str, int]:
        db.session.add(Item(name=name))
        db.session.commit()
        return name, 201

    @app.get("/items")
    def list_items() -> list[str]:
        return list(db.session.scalars(select(Item.name).order_by(Item.name)))

    return app


# -- The app and its ScopedDB: point these two fixtures at your app. ---------


@pytest.fixture(scope="session")
def app() -> t.Iterator[Flask]:
    """Session scope: the app under test, with ``TESTING`` on and the database
    from ``TEST_DATABASE_URL``. No app context is pushed for the run: each
    test gets its own from ``db_session``."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"]})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session", name="db")
def db_fixture(app: Flask) -> ScopedDB:
    """Session scope: the ScopedDB that ``app`` uses."""
    return db


# -- The pair: one connection for the run, one transaction per test. ---------


@pytest.fixture(scope="session")
def connection(app: Flask, db: ScopedDB) -> t.Iterator[Connection]:
    """Session scope, part 1 of the pair: the one Connection every test's
    transaction runs on.

    Creates ``db``'s tables before any test transaction, and at the end of the
    run closes the Connection and drops the tables. On SQLite it makes this
    Connection, and only this one, emit its own BEGIN (see
    ``_begin_sqlite_transactions_ourselves``), so that savepoints nest inside
    the test's transaction.
    """
    with app.app_context():
        engine = db.engine
    db.metadata.create_all(engine)
    connection = engine.connect()
    restore_sqlite = _begin_sqlite_transactions_ourselves(connection)
    yield connection
    restore_sqlite()
    connection.close()
    db.metadata.drop_all(engine)


@pytest.fixture
def db_session(app: Flask, db: ScopedDB, connection: Connection) -> t.Iterator[scoped_session[Session]]:
    """Function scope, part 2 of the pair: ``db.session``, inside a transaction
    that is rolled back after the test.

    Every Session made during the test (in this test's app context, in a
    request, a nested context or another thread) is bound to ``connection``
    and joins the test's transaction through a SAVEPOINT, so ``commit()``,
    ``rollback()`` and ``close()`` in the code under test stay inside it.
    The test fails if that code ended the outer transaction itself, or left
    connections of the engine checked out.
    """
    transaction = connection.begin()
    factory = db.session.session_factory
    user_options = dict(factory.kw)
    # "create_savepoint": a Session never commits or rolls back the test's
    # transaction, only savepoints of its own. SQLAlchemy: "Joining a Session
    # into an External Transaction (such as for test suites)".
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    checked_out = _checked_out(connection)
    context = app.app_context()
    context.push()

    yield db.session

    failure: BaseException | str | None = None
    try:
        # Whatever the code under test sent through a Session ran inside one of
        # that Session's savepoints. A COMMIT (or DDL or TRUNCATE on MariaDB,
        # which commit implicitly) took the savepoint with the transaction, so
        # rolling back to it here fails.
        db.session.remove()
    except DBAPIError as error:
        failure = error.orig
    finally:
        factory.kw = user_options
        context.pop()
        if not transaction.is_active:  # connection.commit() or rollback()
            failure = failure or "the Connection's transaction was ended"
        transaction.rollback()
    if failure is not None:
        pytest.fail(
            "The code under test ended the outer transaction (a COMMIT, or DDL or"
            " TRUNCATE on MariaDB/MySQL, which commit implicitly): what it wrote"
            f" before that may survive this test. ({failure})"
        )
    leaked = _checked_out(connection) - checked_out
    if leaked:
        pytest.fail(
            f"The code under test left {leaked} connection(s) of db.engine checked"
            " out: close every Connection it takes from the engine."
        )


@pytest.fixture
def client(app: Flask, db_session: scoped_session[Session]) -> FlaskClient:
    """Function scope: ``app.test_client()``; its requests run inside the
    test's transaction, whether or not the test names ``db_session``."""
    return app.test_client()


@pytest.fixture
def assert_num_queries(
    connection: Connection, db_session: scoped_session[Session]
) -> t.Callable[[int], t.ContextManager[None]]:
    """Function scope: ``with assert_num_queries(n): ...`` fails unless the
    block sends exactly ``n`` SQL statements through the engine.

    BEGIN and SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT are not
    counted: in SQL the fixture's savepoints cannot be told from the app's.
    """

    @contextmanager
    def counting(expected: int) -> t.Iterator[None]:
        statements: list[str] = []

        def record(conn: Connection, cursor: t.Any, statement: str, *args: t.Any) -> None:
            if not _TRANSACTION_CONTROL.match(statement):
                statements.append(statement)

        event.listen(connection.engine, "before_cursor_execute", record)
        try:
            yield
        finally:
            event.remove(connection.engine, "before_cursor_execute", record)
        if len(statements) != expected:
            sql = "\n".join(f"  {s}" for s in statements)
            raise AssertionError(f"expected {expected} SQL statement(s), got {len(statements)}:\n{sql}")

    return counting


_TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.IGNORECASE)


def _begin_sqlite_transactions_ourselves(connection: Connection) -> t.Callable[[], None]:
    """Make pysqlite leave BEGIN to SQLAlchemy on this one Connection; return
    the function that undoes it.

    In its legacy transaction mode pysqlite opens a transaction only before
    INSERT, UPDATE or DELETE, so a SAVEPOINT sent first opens none and its
    RELEASE is a real COMMIT that no rollback undoes. SQLAlchemy's SQLite
    dialect docs, "Enabling Non-Legacy SQLite Transactional Modes", give this
    fix; we apply it to the test connection, never to the app's engine.
    """
    dbapi_connection = connection.connection.driver_connection
    # Python >= 3.12 with sqlite3.connect(autocommit=False) already begins
    # transactions the PEP 249 way.
    if connection.dialect.driver != "pysqlite" or getattr(dbapi_connection, "autocommit", None) is False:
        return lambda: None

    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    isolation_level = dbapi_connection.isolation_level  # type: ignore[union-attr]
    dbapi_connection.isolation_level = None  # type: ignore[union-attr]
    event.listen(connection, "begin", begin)

    def restore() -> None:
        event.remove(connection, "begin", begin)
        dbapi_connection.isolation_level = isolation_level  # type: ignore[union-attr]

    return restore


def _checked_out(connection: Connection) -> int:
    """How many connections of ``connection``'s engine are checked out, where
    the pool counts them (QueuePool: servers and SQLite files; the single
    shared connection of an SQLite :memory: database cannot leak)."""
    pool = connection.engine.pool
    return pool.checkedout() if isinstance(pool, QueuePool) else 0


# -- One database per test process. --------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """Create this test process's own database and export its URL as
    ``TEST_DATABASE_URL`` before any test module is imported."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None and getattr(config.option, "numprocesses", None):
        return  # The pytest-xdist controller runs no tests; its workers do.
    named = make_url(os.environ.get("TEST_DATABASE_URL", "sqlite:///test.db"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    url = _database_for(named, worker)
    _drop_database(named, url)  # A leftover of an interrupted run.
    _create_database(named, url)
    os.environ["TEST_DATABASE_URL"] = url.render_as_string(hide_password=False)
    config.add_cleanup(lambda: _drop_database(named, url))


def _database_for(named: URL, worker: str) -> URL:
    """The URL of ``worker``'s own database, beside the one ``named``."""
    if named.get_backend_name() == "sqlite":
        if named.database in (None, "", ":memory:"):
            return named  # Private to the process already.
        path = Path(named.database or "").resolve()
        return named.set(database=str(path.with_name(f"{path.stem}_{worker}{path.suffix}")))
    if named.get_backend_name() in ("postgresql", "mysql", "mariadb"):
        return named.set(database=f"{named.database}_{worker}")
    raise pytest.UsageError(f"conftest.py cannot create test databases on {named.get_backend_name()!r}.")


def _create_database(named: URL, url: URL) -> None:
    if named.get_backend_name() != "sqlite":
        _run_on_server(named, "CREATE DATABASE {}", url.database)


def _drop_database(named: URL, url: URL) -> None:
    if named.get_backend_name() == "postgresql":
        _run_on_server(named, "DROP DATABASE IF EXISTS {} WITH (FORCE)", url.database)
    elif named.get_backend_name() != "sqlite":
        _run_on_server(named, "DROP DATABASE IF EXISTS {}", url.database)
    elif url.database not in (None, "", ":memory:"):
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{url.database}{suffix}").unlink(missing_ok=True)


def _run_on_server(named: URL, statement: str, database: str | None) -> None:
    engine = create_engine(named, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(database or "")
            connection.exec_driver_sql(statement.format(quoted))
    except OperationalError as e:
        raise pytest.UsageError(
            f"Cannot reach {named.render_as_string()} for the tests ({e.orig}):"
            " start the server, or point TEST_DATABASE_URL at one that runs."
        ) from None
    finally:
        engine.dispose()

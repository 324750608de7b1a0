# SPDX-License-Identifier: MIT
"""Run every test inside one database transaction that is rolled back.

A worked example to copy into your project. Replace its example part (an
app factory and its ScopedDB, with their imports) with an import of your own
app, and check the ``app`` and ``db`` fixtures; the rest needs nothing else. README.md ("Testing") explains it.

``TEST_DATABASE_URL`` names the database server (default: an SQLite file in
the current directory). The tests never touch that database itself: each test
process creates its own beside it (``<name>_main``, or ``<name>_gw0`` ... under
pytest-xdist), exports its URL as ``TEST_DATABASE_URL`` and drops it at exit.
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import typing as t
from contextlib import contextmanager
from contextvars import Token
from pathlib import Path

import flask.ctx
import pytest
from flask import Flask
from flask.ctx import AppContext
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session
from sqlalchemy.pool import NullPool
from sqlalchemy.pool import Pool

from flask_scoped_db import ScopedDB

# -- The example app. Replace this part, down to its end marker, with an import
# -- of your own: from yourapp import create_app, db
# isort: split
from sqlalchemy import String
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import mapped_column


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


# -- End of the example part. -----------------------------------------------

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

    Creates ``db``'s tables before any test transaction, and drops them at
    the end of the run. For the whole run it takes over the app's engine (see
    ``_TestPool``): connections taken from it join the running test's
    transaction, and outside a test they fail. On Flask <= 3.1 it makes every
    request push an app context of its own, as Flask 3.2 does (see
    ``_RequestContextOfItsOwn``).
    """
    with app.app_context():
        engine = db.engine
    db.metadata.create_all(engine)
    connection = engine.connect()
    pool = _TestPool(connection)
    engine.pool = pool
    if _own_request_context is not None:
        own = _own_request_context
        app.request_context = lambda environ: own(app, environ)  # type: ignore[method-assign]
    yield connection
    if _own_request_context is not None:
        del app.request_context
    engine.pool = pool.original
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
    Connections taken from ``db.engine`` join it the same way. Whatever the
    test leaves behind (contexts it pushed, a failed Session, a dropped
    connection), the next test starts clean; the test fails, saying what it
    did, if the code under test ended the outer transaction, left a
    connection of ``db.engine`` open, or left contexts pushed.
    """
    pool: _TestPool = connection.engine.pool  # type: ignore[assignment]
    transaction = _begin_clean(connection, pool)
    factory = db.session.session_factory
    user_options = dict(factory.kw)
    # "create_savepoint": a Session never commits or rolls back the test's
    # transaction, only savepoints of its own. SQLAlchemy: "Joining a Session
    # into an External Transaction (such as for test suites)".
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    pool.join(connection)
    context = app.app_context()
    context.push()

    yield db.session

    problems: list[str] = []
    try:
        problems += _pop_contexts_above(context)
        try:
            # Whatever the code under test sent through a Session ran inside one
            # of that Session's savepoints. A COMMIT (or DDL or TRUNCATE on
            # MariaDB, which commit implicitly) took the savepoint with the
            # transaction, so rolling back to it here fails.
            db.session.remove()
        except DBAPIError as error:
            problems.append(_ENDED.format(error.orig))
        try:
            context.pop()
        except Exception as error:  # noqa: BLE001 (any teardown_appcontext function may raise anything)
            problems.append(f"A teardown_appcontext function raised {_describe(error)}.")
    finally:
        factory.kw = user_options
        problems += pool.block()
        if not transaction.is_active:  # connection.commit() or rollback()
            problems.append(_ENDED.format("the Connection's transaction was ended"))
        try:
            if connection.in_transaction():  # ours, or one begun after the code under test ended ours
                connection.rollback()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        if connection.invalidated:
            problems.append(_DROPPED)
        if any(problem.startswith(_ENDED[:40]) for problem in problems):
            # What was written before the COMMIT is in the database for good.
            _recreate_tables(connection, db)
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def client(app: Flask, db_session: scoped_session[Session]) -> FlaskClient:
    """Function scope: ``app.test_client()``, inside the test's transaction
    even if the test does not name ``db_session``. Each request runs in an app
    context of its own, with a Session of its own, on every Flask version."""
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

_ENDED = (
    "The code under test ended the outer transaction (a COMMIT, or DDL or TRUNCATE on"
    " MariaDB/MySQL, which commit implicitly): what it wrote before that may survive this test. ({})"
)


def _recreate_tables(connection: Connection, db: ScopedDB) -> None:
    """Drop and create ``db``'s tables, for a clean start after a test that
    committed for real."""
    db.metadata.drop_all(connection)
    db.metadata.create_all(connection)
    connection.commit()


# -- Starting each test clean. ------------------------------------------------


def _begin_clean(connection: Connection, pool: _TestPool) -> t.Any:
    """Begin the test's transaction on a connection with no state left by
    earlier tests; return the transaction.

    What a ROLLBACK leaves behind differs per backend. PostgreSQL keeps
    session-level advisory locks and prepared statements. MariaDB keeps
    temporary tables, user variables, session variables (``SET time_zone``)
    and ``GET_LOCK`` locks: COM_RESET_CONNECTION clears them all, and the
    session variables the connection had when it was opened are set again.
    SQLite connection state (PRAGMAs, functions) is not reset.
    """
    if connection.invalidated:  # the server dropped it during the last test
        connection.engine.pool = pool.original
        try:
            connection.connection  # noqa: B018 (reconnects)
        finally:
            connection.engine.pool = pool
    if connection.dialect.name == "mysql":
        _reset_mariadb_session(connection)
    transaction = connection.begin()
    dbapi_connection = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DEALLOCATE ALL; SELECT pg_advisory_unlock_all()")
    elif connection.dialect.driver == "pysqlite" and not dbapi_connection.in_transaction:  # type: ignore[union-attr]
        # In its legacy transaction mode (the default before Python 3.16),
        # pysqlite sends BEGIN only before INSERT, UPDATE and DELETE: a SAVEPOINT
        # sent first opens no transaction, and its RELEASE is a real COMMIT.
        # Where the driver (autocommit=False, Python 3.12+) or the app's own
        # "begin" event already opened a transaction, there is nothing to do.
        connection.exec_driver_sql("BEGIN")
    return transaction


def _reset_mariadb_session(connection: Connection) -> None:
    """COM_RESET_CONNECTION, then the session variables the connection was
    opened with (``autocommit=0`` at least) set again. PyMySQL only."""
    dbapi_connection: t.Any = connection.connection.driver_connection
    opened_with = connection.info.get("session_variables")
    if opened_with is None:
        rows = connection.exec_driver_sql(
            "SELECT variable_name, session_value FROM information_schema.system_variables"
            " WHERE session_value <> global_value"
        ).all()
        connection.rollback()
        opened_with = connection.info["session_variables"] = {name: value for name, value in rows}
    dbapi_connection._execute_command(0x1F, b"")  # COM_RESET_CONNECTION: PyMySQL has no public call
    dbapi_connection._read_ok_packet()
    if opened_with:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(
                "SET " + ", ".join(f"SESSION {name} = %s" for name in opened_with), list(opened_with.values())
            )


# -- The app's engine during the run: connections join the test. ------------


class _TestPool(NullPool):
    """The app engine's pool while the pair runs (``connection`` installs it).

    During a test (``join``), each connection it hands out is the test's own
    DBAPI connection, in a savepoint of its own (``_Savepoint``): what the code
    under test does through ``db.engine`` sees the test's rows, is undone with
    the test, and never ends or waits on the test's transaction. Between tests
    (``block``) it refuses: a test without ``db_session`` would write to the
    database for good.
    """

    def __init__(self, connection: Connection) -> None:
        super().__init__(self._connect, dialect=connection.dialect)
        self.original: Pool = connection.engine.pool
        self._dbapi_connection: t.Any = None
        self._open: list[_Savepoint] = []
        self._problems: list[str] = []
        self._names = itertools.count()
        self._pid = os.getpid()

    def join(self, connection: Connection) -> None:
        """Hand out savepoints of ``connection`` until :meth:`block`."""
        self._dbapi_connection = connection.connection.dbapi_connection

    def block(self) -> list[str]:
        """Refuse connections from now on; return what went wrong with the
        ones handed out since :meth:`join`."""
        self._dbapi_connection = None
        problems, self._problems = self._problems, []
        if self._open:
            problems.append(
                f"The code under test left {len(self._open)} connection(s) of db.engine checked"
                " out: close every Connection it takes from the engine."
            )
        for savepoint in self._open:
            savepoint.forget()
        self._open.clear()
        return problems

    def recreate(self) -> _TestPool:
        """``engine.dispose()`` keeps this pool: it holds no connections of its own."""
        return self

    def _connect(self) -> _Savepoint:
        if self._dbapi_connection is None:
            raise RuntimeError(_BLOCKED)
        if os.getpid() != self._pid:
            raise RuntimeError("A forked child cannot join the test's transaction: its connection is the parent's.")
        savepoint = _Savepoint(self._dbapi_connection, f"test_engine_{next(self._names)}", self)
        self._open.append(savepoint)
        return savepoint

    def _closed(self, savepoint: _Savepoint, problem: str | None) -> None:
        self._open.remove(savepoint)
        if problem is not None:
            self._problems.append(problem)


_DROPPED = "The database server dropped the test's connection during the test; the next test reconnects."

_BLOCKED = (
    "This test used the app's database without the fixture pair: name db_session"
    " (or client) in the test, so that what it writes is rolled back after it."
)


class _Savepoint:
    """A DBAPI connection that ``_TestPool`` hands out during a test: the test's
    own, where ``commit()`` and ``rollback()`` act on a savepoint of its own.
    Once closed, or forgotten after its test, it sends nothing more."""

    def __init__(self, dbapi_connection: t.Any, name: str, pool: _TestPool) -> None:
        self._dbapi_connection = dbapi_connection
        self._name = name
        self._pool: _TestPool | None = pool
        self._execute("SAVEPOINT")

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._dbapi_connection, name)

    def cursor(self, *args: t.Any) -> t.Any:
        cursor = self._dbapi_connection.cursor(*args)
        # SQLAlchemy's pysqlite recipe (driver in autocommit mode, BEGIN sent
        # from the engine's "begin" event) would BEGIN inside the test's
        # transaction: here the savepoint is the transaction.
        if isinstance(self._dbapi_connection, sqlite3.Connection) and self._dbapi_connection.isolation_level is None:
            return _CursorThatBegan(cursor)
        return cursor

    def commit(self) -> None:
        self._execute("RELEASE SAVEPOINT")
        self._execute("SAVEPOINT")

    def rollback(self) -> None:
        self._execute("ROLLBACK TO SAVEPOINT")

    def close(self) -> None:
        pool = self._pool
        if pool is None:
            return
        try:
            # The pool's reset-on-return has rolled back to the savepoint already.
            self._execute("RELEASE SAVEPOINT")
        except Exception as error:  # noqa: BLE001 (SQLAlchemy would only log it)
            pool._closed(self, _ENDED.format(error))
        else:
            pool._closed(self, None)
        self._pool = None

    def forget(self) -> None:
        """Send nothing from now on: the test it belonged to is over."""
        self._pool = None

    def _execute(self, statement: str) -> None:
        if self._pool is None:
            return
        cursor = self._dbapi_connection.cursor()
        try:
            cursor.execute(f"{statement} {self._name}")
        finally:
            cursor.close()


class _CursorThatBegan:
    """An SQLite cursor on which BEGIN does nothing: a savepoint is open."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._cursor, name)

    def execute(self, statement: str, *args: t.Any) -> t.Any:
        if statement.strip().upper() == "BEGIN":
            return self
        return self._cursor.execute(statement, *args)


# -- Contexts: one per request, none left behind. ----------------------------


def _pop_contexts_above(context: AppContext) -> list[str]:
    """Pop every app context (and, on Flask <= 3.1, request context) the test
    left pushed above ``context``, running their teardowns; say what was left."""
    problems: list[str] = []
    left = 0
    while (top := _cv_app.get(None)) is not None and top is not context and left < 100:
        left += 1
        owner = _own_request_context.owner_of(top) if _own_request_context is not None else None
        try:
            (owner or top).pop()
        except Exception as error:  # noqa: BLE001 (their teardown functions may raise anything)
            problems.append(f"Popping it raised {_describe(error)}.")
    if left:
        problems.insert(0, f"The test left {left} app context(s) pushed: pop every context it pushes.")
    return problems


_own_request_context: type[_RequestContextOfItsOwn] | None = None


def _describe(error: BaseException) -> str:
    """``error``, or the errors inside it: Flask >= 3.2 runs every teardown
    function and raises what they raised as (nested) exception groups."""
    inner = getattr(error, "exceptions", None)
    return ", ".join(_describe(e) for e in inner) if inner else repr(error)


if "RequestContext" in vars(flask.ctx):  # Flask <= 3.1; 3.2 merged it into AppContext
    from flask.ctx import RequestContext

    class _RequestContextOfItsOwn(RequestContext):
        """A request context that always pushes an app context of its own.

        Flask <= 3.1 reuses an app context that is already pushed, so a test
        client request inside ``db_session``'s context would run on the test's
        Session. Hiding that context while this one is pushed gives every
        request its own app context and Session, as Flask 3.2 does.
        """

        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            self._hidden: list[tuple[Token[AppContext], AppContext]] = []

        def push(self) -> None:
            hidden = _cv_app.set(None)  # type: ignore[arg-type]
            super().push()
            self._hidden.append((hidden, _cv_app.get()))

        def pop(self, exc: BaseException | None = flask.ctx._sentinel) -> None:  # type: ignore[assignment]
            try:
                super().pop(exc)
            finally:
                _cv_app.reset(self._hidden.pop()[0])

        @staticmethod
        def owner_of(app_context: AppContext) -> RequestContext | None:
            """The current request context if it pushed ``app_context``."""
            request = flask.globals._cv_request.get(None)
            if (
                isinstance(request, _RequestContextOfItsOwn)
                and request._hidden
                and request._hidden[-1][1] is app_context
            ):
                return request
            return None

    _own_request_context = _RequestContextOfItsOwn


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

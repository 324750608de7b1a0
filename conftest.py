# SPDX-License-Identifier: MIT
"""Run every test inside one database transaction that is rolled back.

A worked example to copy into your project. Replace its example part (an
app factory and its ScopedDB, with their imports) with an import of your own
app, and check the ``app`` and ``db`` fixtures; the rest needs nothing else.
README.md ("Testing") explains it.

``TEST_DATABASE_URL`` names the database server (default: an SQLite file in
the current directory). The tests never touch that database itself: each test
process creates its own beside it (``<name>_pytest_<run>_main``, or ``..._gw0``
under pytest-xdist), exports its URL as ``TEST_DATABASE_URL`` and drops it at
exit (see ``pytest_configure``).
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import sqlite3
import typing as t
import uuid
from contextlib import contextmanager
from contextvars import Token
from pathlib import Path

import flask.ctx
import pytest
from click.testing import Result
from flask import Flask
from flask.ctx import AppContext
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import NoSuchModuleError
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
    ``_RequestContextOfItsOwn``). And ``app.test_cli_runner()`` runs each
    command in an app context of its own, as ``flask <command>`` does (see
    ``_CliRunnerOfItsOwnContext``).
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
    runner_class, app.test_cli_runner_class = app.test_cli_runner_class, _CliRunnerOfItsOwnContext
    yield connection
    app.test_cli_runner_class = runner_class
    if _own_request_context is not None:
        del app.request_context
    engine.pool = pool.original
    connection.close()
    db.metadata.drop_all(engine)


@pytest.fixture
def db_session(
    request: pytest.FixtureRequest, app: Flask, db: ScopedDB, connection: Connection
) -> t.Iterator[scoped_session[Session]]:
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
    transaction = _begin_clean(connection, pool, restart_ids="restart_ids" in request.fixturenames)
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


@pytest.fixture(autouse=True)
def _block_the_database_outside_the_pair(request: pytest.FixtureRequest) -> None:
    """Function scope, on for every test: in a test that uses ``app`` or
    ``db`` but not ``db_session`` (nor ``client``), the app's engine refuses
    every connection with an error that names them, so nothing is written for
    good. To put every test of a module inside the pair, add
    ``pytestmark = pytest.mark.usefixtures("db_session")`` to it; for the
    whole suite, ``usefixtures = db_session`` in the pytest configuration."""
    if {"app", "db"} & set(request.fixturenames):
        request.getfixturevalue("connection")  # it installs the refusing pool


@pytest.fixture
def restart_ids() -> None:
    """Function scope, opt-in: name it in a test (or ``usefixtures`` it for a
    module or the suite, like ``db_session``) and every autoincrement id
    starts where it would in empty tables, on PostgreSQL and MariaDB too
    (SQLite rolls its counters back with the test anyway). It costs a
    statement per test on PostgreSQL and an ``ALTER TABLE`` per table the
    previous test inserted into on MariaDB: README, "Testing"."""


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


def _begin_clean(connection: Connection, pool: _TestPool, restart_ids: bool) -> t.Any:
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
        _reset_mariadb_session(connection, restart_ids)
    transaction = connection.begin()
    try:
        dbapi_connection = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            _reset_postgresql_session(connection, restart_ids)
        elif connection.dialect.driver == "pysqlite" and not dbapi_connection.in_transaction:  # type: ignore[union-attr]
            # In its legacy transaction mode (the default before Python 3.16),
            # pysqlite sends BEGIN only before INSERT, UPDATE and DELETE: a SAVEPOINT
            # sent first opens no transaction, and its RELEASE is a real COMMIT.
            # Where the driver (autocommit=False, Python 3.12+) or the app's own
            # "begin" event already opened a transaction, there is nothing to do.
            connection.exec_driver_sql("BEGIN")
    except BaseException:
        transaction.rollback()
        raise
    return transaction


def _reset_postgresql_session(connection: Connection, restart_ids: bool) -> None:
    """Release advisory locks and drop prepared statements, in one statement
    inside the test's transaction; with ``restart_ids``, set every sequence
    that moved back to its start value too (``setval`` is not transactional)."""
    restart = "; SELECT setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, false)"
    restart += " FROM pg_sequences WHERE last_value IS NOT NULL"
    connection.exec_driver_sql(f"DEALLOCATE ALL; SELECT pg_advisory_unlock_all(){restart if restart_ids else ''}")


def _reset_mariadb_session(connection: Connection, restart_ids: bool) -> None:
    """COM_RESET_CONNECTION, then the session variables the connection was
    opened with (``autocommit=0`` at least) set again. PyMySQL only. With
    ``restart_ids``, AUTO_INCREMENT goes back to 1 on every table whose
    counter moved (ALTER TABLE commits implicitly: this runs before the
    test's transaction)."""
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
    if restart_ids:
        _restart_auto_increments(connection)


def _restart_auto_increments(connection: Connection) -> None:
    """Set AUTO_INCREMENT back to 1 on the tables whose counter moved."""
    moved = connection.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND auto_increment > 1"
    ).scalars()
    quote = connection.dialect.identifier_preparer.quote
    for table in moved.all():
        connection.exec_driver_sql(f"ALTER TABLE {quote(table)} AUTO_INCREMENT = 1")
    connection.commit()


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
    "This test used the app's database outside the fixture pair, where what it writes would stay for"
    " good: name db_session (or client) in the test, or put its whole module inside the pair with"
    ' pytestmark = pytest.mark.usefixtures("db_session").'
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


class _CliRunnerOfItsOwnContext(FlaskCliRunner):
    """``app.test_cli_runner()`` while the pair runs: each ``invoke()`` runs
    the command in an app context of its own, with a Session of its own that
    joins the test's transaction, as ``flask <command>`` does.

    Flask's ``with_appcontext`` pushes a context only when none is current, so
    with Flask's own runner a command in a test would run in the test's context,
    on the test's Session: a command that forgot to commit would still pass.
    """

    def invoke(self, *args: t.Any, **kwargs: t.Any) -> Result:
        hidden = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            with self.app.app_context():
                result: Result = super().invoke(*args, **kwargs)
                return result
        finally:
            _cv_app.reset(hidden)


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


# -- Databases of the run's own. -------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    """Create this test process's own database and export its URL as
    ``TEST_DATABASE_URL`` before any test module is imported.

    The database is named after the one ``TEST_DATABASE_URL`` names, the run
    and the worker (``test_pytest_1a2b3c4d_main``, ``..._gw0``), so runs never
    share one. The process holds a lock on it while it lives (an advisory lock
    on PostgreSQL, ``GET_LOCK`` on MariaDB, ``flock`` on an SQLite file), which
    the server or the kernel releases when the process dies, however it dies.
    Before creating any, a run drops every such database whose lock is free:
    the leftovers of runs that were killed. It never touches a locked one.
    """
    named = make_url(os.environ.get("TEST_DATABASE_URL", "sqlite:///test.db"))
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # the run's first process: the xdist controller, or the only one
        _Server(named).drop_databases_of_dead_runs()
        if getattr(config.option, "numprocesses", None):
            return  # The controller runs no tests; its workers do.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
    database = _Server(named).create_database_of_this_process(f"{run[:8]}_{worker or 'main'}")
    os.environ["TEST_DATABASE_URL"] = database.url.render_as_string(hide_password=False)
    config.add_cleanup(database.drop)


class _Server:
    """The database server (or SQLite folder) that ``TEST_DATABASE_URL`` names."""

    def __init__(self, named: URL) -> None:
        self.named = named
        self.backend = named.get_backend_name()
        if self.backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
            raise pytest.UsageError(
                f"TEST_DATABASE_URL names a {self.backend!r} database: conftest.py creates test databases on"
                " SQLite, PostgreSQL and MariaDB/MySQL only. Point it at one of those."
            )
        try:
            named.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError) as error:
            raise pytest.UsageError(
                f"TEST_DATABASE_URL names the driver {named.drivername!r}, which cannot be loaded ({error}):"
                " install its package (psycopg[binary] for postgresql+psycopg, PyMySQL for mysql+pymysql),"
                " or name a driver that is installed."
            ) from None
        self.memory = self.backend == "sqlite" and named.database in (None, "", ":memory:")
        path = Path(named.database or "test.db").resolve()
        self.pattern = re.compile(
            rf"{re.escape(path.stem if self.backend == 'sqlite' else named.database or '')}_pytest_[0-9a-f]{{8}}_(main|gw\d+)"
        )

    def drop_databases_of_dead_runs(self) -> None:
        if self.memory:
            return
        for name in self._databases():
            if self.pattern.fullmatch(name):
                database = _Database(self, name)
                if database.lock(wait=False):
                    database.drop()

    def create_database_of_this_process(self, suffix: str) -> _Database:
        if self.memory:
            return _Database(self, None)
        stem = Path(self.named.database or "").stem if self.backend == "sqlite" else self.named.database
        database = _Database(self, f"{stem}_pytest_{suffix}")
        database.lock(wait=True)
        database.create()
        return database

    def _databases(self) -> list[str]:
        if self.backend == "sqlite":
            folder = Path(self.named.database or "").resolve().parent
            return [path.stem for path in folder.glob(f"*{Path(self.named.database or '').suffix}")]
        listing = "SELECT datname FROM pg_database" if self.backend == "postgresql" else "SHOW DATABASES"
        with self.connect() as connection:
            return list(connection.exec_driver_sql(listing).scalars())

    def connect(self) -> Connection:
        """An AUTOCOMMIT connection to the named database, or a UsageError that says what is wrong."""
        engine = create_engine(self.named, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            return engine.connect()
        except DBAPIError as error:
            raise pytest.UsageError(_setup_error(self.named, error)) from None


class _Database:
    """One process's test database, and the lock that says its owner lives."""

    def __init__(self, server: _Server, name: str | None) -> None:
        self.server = server
        self.name = name
        self._lock: t.Any = None
        if server.memory:
            self.url = server.named
        elif server.backend == "sqlite":
            self.url = server.named.set(database=str(Path(server.named.database or "").resolve().with_stem(name or "")))
        else:
            self.url = server.named.set(database=name)

    def lock(self, *, wait: bool) -> bool:
        """Take the lock; without ``wait``, only if it is free."""
        if self.server.backend == "sqlite":
            self._lock = open(self.url.database or "", "a")  # noqa: SIM115 (held until drop)
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                self._lock.close()
                return False
            return True
        self._lock = self.server.connect()
        if self.server.backend == "postgresql":
            take = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            sql = f"SELECT {take}(hashtext('flask_scoped_db'), hashtext(%(name)s))"
        else:
            sql = f"SELECT GET_LOCK(%(name)s, {60 if wait else 0})"
        if self._lock.exec_driver_sql(sql, {"name": self.name}).scalar() in (True, 1) or wait:
            return True
        self._lock.close()
        return False

    def create(self) -> None:
        if self.server.backend != "sqlite":
            self._lock.exec_driver_sql(f"CREATE DATABASE {self._quoted()}")

    def drop(self) -> None:
        """Drop the database, then release the lock."""
        if self.server.memory:
            return
        if self.server.backend == "sqlite":
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{self.url.database}{suffix}").unlink(missing_ok=True)
        else:
            force = " WITH (FORCE)" if self.server.backend == "postgresql" else ""
            self._lock.exec_driver_sql(f"DROP DATABASE IF EXISTS {self._quoted()}{force}")
        self._lock.close()

    def _quoted(self) -> str:
        return t.cast(str, self._lock.dialect.identifier_preparer.quote(self.name))


def _setup_error(named: URL, error: DBAPIError) -> str:
    """What went wrong connecting to ``named``, and what to do about it."""
    server = named.set(database=None).render_as_string()
    message = str(error.orig)
    number = (getattr(error.orig, "args", None) or [None])[0]  # PyMySQL's error number; psycopg has none here
    if number == 1049 or re.search(r'database ".*" does not exist', message):
        return (
            f"TEST_DATABASE_URL names the database {named.database!r}, which does not exist on {server}."
            f" Create it (CREATE DATABASE {named.database}), or name any database that exists there:"
            " the tests only create their own beside it."
        )
    if number in (1044, 1045, 1698) or re.search(r'role ".*" does not exist|authentication failed', message):
        return f"{server} refused the user {named.username!r} ({message}): check the user and password in TEST_DATABASE_URL."
    return (
        f"Cannot reach {server} for the tests ({error.orig}): start the server, or point"
        " TEST_DATABASE_URL at one that runs."
    )

# SPDX-License-Identifier: MIT
"""Run every test inside one database transaction that is rolled back.

A worked example to copy into your project, beside flask_scoped_db.py, which
does the work (its test part). Replace the example part below with an import
of your own app factory and ScopedDB, and check the ``app`` fixture's call of
the factory. README.md ("Testing") explains each fixture; ("Upgrading") how to
take a new flask_scoped_db.py.

``TEST_DATABASE_URL`` names the database (default: an SQLite file in the
current directory). The tests never touch that database itself, but one of
their own beside it (see ``pytest_configure``).
"""

from __future__ import annotations

import os
import typing as t

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

from shop.flask_scoped_db import ScopedDB
from shop.flask_scoped_db import TestConnection
from shop.flask_scoped_db import TestDatabase
from shop.flask_scoped_db import TestSetupError
from shop.flask_scoped_db import check_version

# The flask_scoped_db release this file was written for: README, "Upgrading".
WRITTEN_FOR = "0.4.0"

# isort: split
from shop import create_app
from shop.extensions import db


@pytest.fixture(scope="session")
def app() -> t.Iterator[Flask]:
    """Session scope: the app under test (point it at your factory), with
    ``TESTING`` on and the database from ``TEST_DATABASE_URL``. No app context
    is pushed for the run: each test gets its own from ``db_session``."""
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
def connection(app: Flask, db: ScopedDB) -> t.Iterator[TestConnection]:
    """Session scope, part 1 of the pair: creates ``db``'s tables, opens the
    one connection every test runs on, and takes over the app's engine,
    request contexts and CLI runner for the run (``TestConnection``); undoes
    all of it, and drops the tables, at the end of the run."""
    with db.test_connection(app) as test_connection:
        yield test_connection


@pytest.fixture
def db_session(request: pytest.FixtureRequest, connection: TestConnection) -> t.Iterator[scoped_session[Session]]:
    """Function scope, part 2 of the pair: ``db.session``, in an app context of
    the test's own, inside a transaction that is rolled back after the test
    (inside the rows its scope shares, if any: ``pytest_fixture_setup``).

    Every Session and every ``db.engine`` connection of the test (in a
    request, a CLI command, a nested context, another thread) joins that
    transaction, so ``commit()``, ``rollback()`` and ``close()`` stay inside
    it. The test fails at teardown, naming the cause, if its code ended the
    transaction, left engine connections checked out or contexts pushed; the
    next test starts clean whatever it did."""
    opted_in = request.fixturenames
    with connection.transaction(
        restart_ids="restart_ids" in opted_in,
        requests_share_context="requests_share_context" in opted_in,
        real_commits="real_commits" in opted_in,
    ) as session:
        yield session


@pytest.fixture(scope="session")
def shared_session(connection: TestConnection, db: ScopedDB) -> scoped_session[Session]:
    """Session scope: ``db.session``, for rows that the tests of a scope
    share. Name it in a fixture of module, class, package or session scope,
    write the rows through it and commit: the fixture runs once for its
    scope inside the pair, each test of the scope sees the rows as written,
    and they are rolled back after the scope (``pytest_fixture_setup``)."""
    return db.session


@pytest.fixture
def client(app: Flask, db_session: scoped_session[Session]) -> FlaskClient:
    """Function scope: ``app.test_client()``, inside the test's transaction
    even if the test does not name ``db_session``. Each request runs in an app
    context of its own, with a Session of its own, on every Flask version
    (but with ``requests_share_context``)."""
    return app.test_client()


@pytest.fixture
def assert_num_queries(
    connection: TestConnection, db_session: scoped_session[Session]
) -> t.Callable[[int], t.ContextManager[None]]:
    """Function scope: ``with assert_num_queries(n): ...`` fails unless the
    block sends exactly ``n`` SQL statements (BEGIN and SAVEPOINT statements
    not counted), showing the SQL it sent."""
    return connection.assert_num_queries


@pytest.fixture
def restart_ids() -> None:
    """Function scope, opt-in: name it in a test (or ``usefixtures`` it for a
    module or the suite) and every autoincrement id starts right after the
    rows its table held before the test (at 1 in an empty table), on
    PostgreSQL and MariaDB too. ``db_session`` reads it."""


@pytest.fixture
def requests_share_context() -> None:
    """Function scope, opt-in, for tests written for Flask <= 3.1: name it in
    a test (or ``usefixtures`` it for a module or the suite) and the request
    contexts pushed in it (the test client's, ``app.test_request_context()``)
    run in the test's app context, on its Session and its ``g``, as Flask
    <= 3.1 does by itself (README, "Requests"). On Flask 3.2,
    which has no such habit, the test errors, saying what to change instead.
    ``db_session`` reads it."""


@pytest.fixture
def real_commits() -> None:
    """Function scope, opt-in: name it in a test and the code under test
    commits for real, for another process to read (pytest-flask's
    ``live_server``, a subprocess); after the test every table holds again
    what it held before, and ids go on after it. Slower than a rolled-back
    test (README, "Real commits"); such tests run first, before any shared
    data. ``db_session`` reads it."""


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


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[t.Any], request: pytest.FixtureRequest) -> t.Iterator[t.Any]:
    """A fixture of wider scope than a test's that names ``shared_session``
    writes its rows inside the pair, once for its scope (``SharedData``;
    README, "Shared data"), and they are rolled back after the scope.

    Before pytest-flask's ``live_server``, which forks a server from the
    app, ``connection``: the server then finds the database refusing too,
    except during real-commit tests, and writes nothing for good. A fixture
    of your own that forks from the app should take ``connection`` first."""
    if fixturedef.argname == "live_server":
        request.getfixturevalue("connection")
    if fixturedef.scope == "function" or "shared_session" not in fixturedef.argnames:
        return (yield)
    data = request.getfixturevalue("connection").shared_data()
    fixturedef.addfinalizer(data.close)
    with data:
        return (yield)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Real-commit tests first (after pytest-randomly has shuffled the
    others): they cannot run inside shared data, which later tests open."""
    items.sort(key=lambda item: "real_commits" not in getattr(item, "fixturenames", ()))


# -- The run's own database. -------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--create-db``: drop and create the run's database, even if an earlier run left one to reuse."""
    parser.addoption("--create-db", action="store_true", help="make the test database anew")


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module is imported: give this test process a database
    of its own beside the one ``TEST_DATABASE_URL`` names, and export its URL
    as ``TEST_DATABASE_URL`` (``TestDatabase``: ``test_run0``, ``test_run1``
    for a second run or an xdist worker, reused and emptied by the next run).
    A mistake in the URL stops the run once, saying what to do."""
    try:
        check_version(WRITTEN_FOR)
        database = TestDatabase(os.environ.get("TEST_DATABASE_URL", "sqlite:///test.db"))
        url = database.open(fresh=config.option.create_db)
        if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
            database.close()
            return  # the xdist controller runs no tests: it took a slot to say a mistake once
    except TestSetupError as error:
        raise pytest.UsageError(str(error)) from None
    os.environ["TEST_DATABASE_URL"] = url.render_as_string(hide_password=False)
    config.add_cleanup(database.close)

"""The suite's own fixtures, beside the pair's conftest.py (one folder up),
which stays a copy of flask_scoped_db's that you can upgrade."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

from blog import Config
from blog import User
from blog import create_app
from blog import hasher


@pytest.fixture
def user(db_session: scoped_session[Session]) -> User:
    """Function scope: a user, committed inside the test's transaction, so
    that requests see it; gone after the test."""
    user = User(name="ada", password_hash=hasher.hash("secret"))
    db_session.add(user)
    db_session.commit()
    return user


@pytest.fixture
def request_context(app: Flask, db_session: scoped_session[Session]) -> t.Iterator[None]:
    """Function scope: a request context above the test's app context, so
    that ``url_for`` works in the test body, as the suite's old ``app``
    fixture gave with ``app.test_request_context().push()``. The test's
    Session goes on in it: what other fixtures made stays in one Session."""
    session = db_session()
    with app.test_request_context():
        db_session.registry.set(session)
        try:
            yield
        finally:
            db_session.registry.clear()  # the context's teardown would close it: the pair does, after the test


@pytest.fixture
def make_app(app: Flask, db_session: scoped_session[Session]) -> t.Iterator[t.Callable[[type[Config]], Flask]]:
    """Function scope: the factory, for a test of another config. The app it
    makes joins the test's transaction (its Sessions and ``db.engine``); the
    factory re-runs the module-level extensions' ``init_app``, and ``hasher``
    keeps what it read, so after the test it reads the app under test's
    config again."""
    yield create_app
    hasher.init_app(app)

"""A module not converted yet. Its tests name only ``app`` and ``db``, as
when the suite's old ``app`` fixture pushed a context for the whole run, and
read what a request left in ``g`` and in the test's objects, as Flask <= 3.1
allows. Its ``pytestmark`` keeps them inside the pair with those habits until
the module is converted (test_users.py shows the converted forms)."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from flask import Flask
from flask import g

from blog import User
from flask_scoped_db import ScopedDB

pytestmark = [
    pytest.mark.usefixtures("db_session", "requests_share_context"),
    pytest.mark.skipif(
        tuple(map(int, version("flask").split(".")[:2])) >= (3, 2),
        reason="Flask 3.2 gives every request a context of its own: convert this module first",
    ),
]


def test_the_view_puts_the_user_in_g(app: Flask, db: ScopedDB) -> None:
    """The request ran in the test's app context: its g is the test's."""
    user = User(name="ada", password_hash="")
    db.session.add(user)
    db.session.commit()
    app.test_client().get(f"/users/{user.id}")
    assert g.user is user


def test_a_rename_is_seen_at_once(app: Flask, db: ScopedDB) -> None:
    """The request ran on the test's Session: its commit expired the test's objects."""
    user = User(name="ada", password_hash="")
    db.session.add(user)
    db.session.commit()
    app.test_client().post(f"/users/{user.id}/rename", data={"name": "grace"})
    assert user.name == "grace"

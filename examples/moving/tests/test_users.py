"""A converted module: its tests name the pair's fixtures and the suite's own."""

from __future__ import annotations

import typing as t

import pytest
from flask import g
from flask import url_for
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

from blog import User
from blog import hasher


def test_signing_up_stores_the_passwords_hash(client: FlaskClient, db_session: scoped_session[Session]) -> None:
    """The view's commit is seen by the test."""
    response = client.post("/users/ada", data={"password": "secret"})
    assert response.status_code == 201 and response.json is not None
    user = db_session.get(User, response.json["id"])
    assert user is not None and user.password_hash == hasher.hash("secret")


@pytest.mark.usefixtures("restart_ids")
def test_the_first_user_gets_id_1(client: FlaskClient) -> None:
    """With restart_ids, ids start at 1 in every test, on PostgreSQL and MariaDB too."""
    assert client.post("/users/ada", data={"password": "secret"}).json == {"id": 1}


@pytest.mark.usefixtures("request_context")
def test_url_for_works_in_the_test_body(user: User) -> None:
    """The suite's request_context fixture gives url_for the request it needs."""
    assert url_for("users.show_user", user_id=user.id) == f"/users/{user.id}"


def test_what_a_fixture_made_before_the_request_context_stays_in_the_tests_session(
    user: User, request_context: None, db_session: scoped_session[Session]
) -> None:
    """request_context keeps the test's Session: the user fixture's object is changed and committed in it."""
    user.name = "grace"
    db_session.commit()
    assert user in db_session


def test_the_test_reads_what_the_view_put_in_g_inside_with_client(client: FlaskClient, user: User) -> None:
    """A request has an app context of its own; `with client:` keeps it, and its g, for the test."""
    with client:
        client.get(f"/users/{user.id}")
        assert g.user.name == "ada"


def test_a_user_the_test_holds_is_renamed_once_refreshed(
    client: FlaskClient, db_session: scoped_session[Session], user: User
) -> None:
    """A request commits on a Session of its own: the test's copy is refreshed to see it."""
    client.post(f"/users/{user.id}/rename", data={"name": "grace"})
    db_session.refresh(user)
    assert user.name == "grace"


@pytest.fixture
def audited_user(user: User) -> t.Iterator[User]:
    """A fixture that reads its object at teardown, after request_context's."""
    yield user
    assert user.name == "ada"


def test_a_fixture_reads_its_object_after_the_request_context_is_gone(
    audited_user: User, request_context: None, db_session: scoped_session[Session]
) -> None:
    """request_context leaves the test's Session open: the pair closes it after every fixture, which can load
    what the commit expired."""
    db_session.commit()

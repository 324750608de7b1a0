"""Tests for the shop, each inside its own rolled-back transaction (tests/conftest.py)."""

from __future__ import annotations

import typing as t

import pytest
from factories import CustomerFactory
from factories import OrderFactory
from factories import OrderLineFactory
from flask import Flask
from flask import url_for
from flask.testing import FlaskClient
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

from shop.models import Customer
from shop.models import Order
from shop.models import OrderLine

AssertNumQueries = t.Callable[[int], t.ContextManager[None]]


@pytest.mark.parametrize("run", ["first", "second"])
def test_every_test_starts_with_an_empty_shop(client: FlaskClient, run: str) -> None:
    """The same customer is added in two tests: the first test's is gone in the second."""
    added = client.post("/customers/", json={"email": "ann@example.com", "name": "Ann"})
    assert added.status_code == 201
    assert client.get("/customers/").json == [added.json]


def test_the_client_is_the_pairs_even_without_db_session(request: pytest.FixtureRequest, client: FlaskClient) -> None:
    """conftest.py's client wins over pytest-flask's: it brings the test's transaction along."""
    assert "db_session" in request.fixturenames


def test_pytest_flask_pushes_a_request_context_for_tests_that_use_app(app: Flask) -> None:
    """pytest-flask's own autouse fixtures still work next to ours: url_for needs no context here."""
    assert url_for("orders.show_order", order_id=7) == "/orders/7"


def test_requests_see_what_the_factories_made(client: FlaskClient, db_session: scoped_session[Session]) -> None:
    """A factory flushes into the test's transaction, where the client's requests see the row."""
    customer = CustomerFactory.create(name="Bea")
    assert client.get("/customers/").json == [customer.as_dict()]


def test_placing_an_order_stores_its_lines(client: FlaskClient, db_session: scoped_session[Session]) -> None:
    """POST /orders/ stores the order with its lines, and the test sees them."""
    customer = CustomerFactory.create()
    lines = [
        {"product": "tea", "quantity": 3, "price_cents": 400},
        {"product": "cup", "quantity": 1, "price_cents": 900},
    ]
    placed = client.post("/orders/", json={"customer_id": customer.id, "lines": lines})
    assert placed.status_code == 201 and placed.json is not None
    order = db_session.get(Order, placed.json["id"])
    assert order is not None and [line.product for line in order.lines] == ["tea", "cup"]
    assert order.total_cents == 2100


def test_showing_an_order_takes_two_queries(
    client: FlaskClient, db_session: scoped_session[Session], assert_num_queries: AssertNumQueries
) -> None:
    """GET /orders/<id> loads the order, then its lines: two SELECTs."""
    line = OrderLineFactory.create()
    with assert_num_queries(2):
        shown = client.get(f"/orders/{line.order.id}")
    assert shown.json is not None and shown.json["total_cents"] == 500


def test_deleting_a_customer_deletes_their_orders_and_lines(
    client: FlaskClient, db_session: scoped_session[Session]
) -> None:
    """The cascades: a customer's orders go with them, and the orders' lines with the orders."""
    line = OrderLineFactory.create()
    assert client.delete(f"/customers/{line.order.customer.id}").status_code == 204
    for model in (Customer, Order, OrderLine):
        assert db_session.scalar(select(func.count()).select_from(model)) == 0


def test_a_line_taken_out_of_an_order_is_deleted(client: FlaskClient, db_session: scoped_session[Session]) -> None:
    """delete-orphan: the line's row goes when the view takes it out of ``order.lines``."""
    order = OrderFactory.create()
    kept, removed = OrderLineFactory.create_batch(2, order=order)
    assert client.delete(f"/orders/{order.id}/lines/{removed.id}").status_code == 200
    assert db_session.scalars(select(OrderLine.id)).all() == [kept.id]


def test_rename_customer_renames_them(app: Flask, db_session: scoped_session[Session]) -> None:
    """``flask rename-customer EMAIL NAME`` commits the new name."""
    customer = CustomerFactory.create(email="cy@example.com", name="Cy")
    result = app.test_cli_runner().invoke(args=["rename-customer", "cy@example.com", "Cyd"])
    assert result.exit_code == 0, result.output
    # The command ran on a Session of its own, as `flask rename-customer` does.
    db_session.refresh(customer)
    assert customer.name == "Cyd"


def test_rename_customer_fails_for_an_unknown_email(app: Flask, db_session: scoped_session[Session]) -> None:
    """The command exits with 1 and says which email it did not find."""
    result = app.test_cli_runner().invoke(args=["rename-customer", "nobody@example.com", "X"])
    assert result.exit_code == 1 and "No customer has the email 'nobody@example.com'" in result.output

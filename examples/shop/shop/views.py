"""The shop's two blueprints: customers, and their orders."""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import request
from sqlalchemy import select

from shop.extensions import db
from shop.models import Customer
from shop.models import Order
from shop.models import OrderLine

customers = Blueprint("customers", __name__, url_prefix="/customers")
orders = Blueprint("orders", __name__, url_prefix="/orders")


@customers.get("/")
def list_customers() -> list[dict[str, t.Any]]:
    """Every customer, by email."""
    return [customer.as_dict() for customer in db.session.scalars(select(Customer).order_by(Customer.email))]


@customers.post("/")
def add_customer() -> tuple[dict[str, t.Any], int]:
    """Add the customer that the JSON body describes."""
    body = request.get_json()
    customer = Customer(email=body["email"], name=body["name"])
    db.session.add(customer)
    db.session.commit()
    return customer.as_dict(), 201


@customers.delete("/<int:customer_id>")
def delete_customer(customer_id: int) -> tuple[str, int]:
    """Delete a customer, with their orders and the orders' lines."""
    db.session.delete(db.get_or_404(Customer, customer_id))
    db.session.commit()
    return "", 204


@orders.post("/")
def place_order() -> tuple[dict[str, t.Any], int]:
    """Place an order for a customer: ``{"customer_id": 1, "lines": [{"product": ..., ...}]}``."""
    body = request.get_json()
    customer = db.get_or_404(Customer, body["customer_id"])
    order = Order(customer=customer, lines=[OrderLine(**line) for line in body["lines"]])
    db.session.add(order)
    db.session.commit()
    return order.as_dict(), 201


@orders.get("/<int:order_id>")
def show_order(order_id: int) -> dict[str, t.Any]:
    """An order with its lines and total."""
    return db.get_or_404(Order, order_id).as_dict()


@orders.delete("/<int:order_id>/lines/<int:line_id>")
def remove_line(order_id: int, line_id: int) -> dict[str, t.Any]:
    """Take a line out of an order: delete-orphan deletes its row."""
    order = db.get_or_404(Order, order_id)
    order.lines = [line for line in order.lines if line.id != line_id]
    db.session.commit()
    return order.as_dict()

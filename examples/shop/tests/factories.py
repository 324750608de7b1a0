"""factory-boy factories for the shop's models, on ``db.session``."""

from __future__ import annotations

from factory.alchemy import SQLAlchemyModelFactory
from factory.declarations import Sequence
from factory.declarations import SubFactory

from shop.extensions import db
from shop.models import Customer
from shop.models import Order
from shop.models import OrderLine


class ShopFactory(SQLAlchemyModelFactory):
    """The base of the shop's factories: they add to the current app context's Session."""

    class Meta:
        abstract = True
        # The scoped_session itself, never db.session(): each create() uses the
        # Session of the app context current then, the test's own under db_session.
        sqlalchemy_session = db.session
        # "flush": the row gets its id and is sent inside the test's transaction,
        # where the test client's requests (Sessions of their own) see it.
        sqlalchemy_session_persistence = "flush"


class CustomerFactory(ShopFactory):
    """A customer with a unique email."""

    class Meta:
        model = Customer

    email = Sequence(lambda n: f"customer{n}@example.com")
    name = Sequence(lambda n: f"Customer {n}")


class OrderFactory(ShopFactory):
    """An order of a new customer, with no lines."""

    class Meta:
        model = Order

    customer = SubFactory(CustomerFactory)


class OrderLineFactory(ShopFactory):
    """A line of a new order: two of a product at 250 cents."""

    class Meta:
        model = OrderLine

    order = SubFactory(OrderFactory)
    product = Sequence(lambda n: f"product {n}")
    quantity = 2
    price_cents = 250

"""The shop's models: a customer has orders, an order has lines."""

from __future__ import annotations

import typing as t

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from shop.extensions import Base


class Customer(Base):
    """Someone who orders; deleting a customer deletes their orders."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    orders: Mapped[list[Order]] = relationship(back_populates="customer", cascade="all, delete-orphan")

    def as_dict(self) -> dict[str, t.Any]:
        """The JSON the views return."""
        return {"id": self.id, "email": self.email, "name": self.name}


class Order(Base):
    """One order; a line taken out of ``lines`` is deleted (delete-orphan)."""

    __tablename__ = "shop_order"  # ORDER is an SQL keyword

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
    customer: Mapped[Customer] = relationship(back_populates="orders")
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )

    @property
    def total_cents(self) -> int:
        """What the order costs, in cents."""
        return sum(line.quantity * line.price_cents for line in self.lines)

    def as_dict(self) -> dict[str, t.Any]:
        """The JSON the views return."""
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "lines": [line.as_dict() for line in self.lines],
            "total_cents": self.total_cents,
        }


class OrderLine(Base):
    """So many of one product, at a price."""

    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"))
    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    price_cents: Mapped[int]

    def as_dict(self) -> dict[str, t.Any]:
        """The JSON the views return."""
        return {"id": self.id, "product": self.product, "quantity": self.quantity, "price_cents": self.price_cents}

"""The shop's CLI commands, run as ``flask --app shop <command>``."""

from __future__ import annotations

import click
from flask import Blueprint
from sqlalchemy import select

from shop.extensions import db
from shop.models import Customer

# cli_group=None: the commands sit at the top level, ``flask rename-customer``.
commands = Blueprint("commands", __name__, cli_group=None)


@click.command("rename-customer")
@click.argument("email")
@click.argument("name")
def rename_customer(email: str, name: str) -> None:
    """Give the customer with EMAIL the name NAME."""
    customer = db.session.scalars(select(Customer).filter_by(email=email)).one_or_none()
    if customer is None:
        raise click.ClickException(f"No customer has the email {email!r}.")
    customer.name = name
    db.session.commit()
    click.echo(f"Renamed {email} to {name}.")


# Added, not decorated with @commands.cli.command(): no with_appcontext is needed, as
# `flask` pushes an app context for every command, and Flask 2.3 leaves that decorator untyped.
commands.cli.add_command(rename_customer)

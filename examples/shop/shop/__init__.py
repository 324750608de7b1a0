"""A small shop: flask_scoped_db's example of a Flask app in a package, with an app factory."""

from __future__ import annotations

import typing as t

from flask import Flask

from shop.commands import commands
from shop.extensions import db
from shop.views import customers
from shop.views import orders


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """The app factory: ``config`` overrides the defaults, as the tests do."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///shop.db"  # in app.instance_path
    app.config.update(config or {})
    db.init_app(app)

    with app.app_context():
        db.create_all()  # fine for an example; real apps run migrations

    app.register_blueprint(customers)
    app.register_blueprint(orders)
    app.register_blueprint(commands)
    return app

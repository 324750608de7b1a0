"""Alembic's environment for the example app: migrate on the connection handed in."""

from alembic import context
from todo import Base

context.configure(connection=context.config.attributes["connection"], target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()

"""Alembic's environment for the score log: migrations run on the connection leadml hands over
(`ScoreLog.upgrade`), never on a URL from a config file."""

from alembic import context

from leadml.scorelog.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

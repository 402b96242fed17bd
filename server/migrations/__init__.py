"""Alembic migrations of the one schema, run with :func:`server.migrate.upgrade`."""

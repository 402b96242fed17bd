"""Alembic migrations of the one schema, run with :func:`server.storage.migrate.upgrade`."""

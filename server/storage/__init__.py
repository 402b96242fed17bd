"""Storage: the one SQL schema, its Alembic migrations, the stores, idempotency and paging.

May import: the leaves and the domain packages (for their value types), sqlalchemy and
alembic, and ``server.errors``. Never imports ``server.services``, ``server.http`` or
``server.cli``.
"""

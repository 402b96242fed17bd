"""Services: the flows (underwriting, claims, ledger, users), one transaction each.

Orchestration only: read through ``server.storage``, call the rules of ``underwriting``
and ``claims`` and the leaves through their public names, write, append ledger events.
May import ``server.storage``, ``server.errors``, ``server.config`` and ``server.chain``;
never ``server.http`` or ``server.cli``.

Who may do what, and whose records a viewer sees, is one module:
:mod:`server.services.access` (the routes and the services that read for a viewer ask it).
"""

from server.storage.idempotency import IdempotencyMismatch, run_idempotent
from server.storage.paging import Page

__all__ = ["IdempotencyMismatch", "Page", "run_idempotent"]

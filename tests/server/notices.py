"""Test helper: publish the claims notices that payment now waits for, and let their period pass.

A claim is paid only after a claims notice listing it has passed its
objection period with no objection open (``claims.check_public_notice``).
Tests that pay call :func:`clear_for_payment` after approving: it publishes
the claims notice of each region with approved claims (the shortest period,
:data:`claims.MIN_OBJECTION_DAYS`) and moves the ledger's clock past it, as
the village's days would pass.

A server in another process (``agri serve``) or thread keeps the real clock:
there :func:`approved_and_cleared` approves the claims and posts them on their
notice days ago, through the services, so that by today the period is over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from claims import MIN_OBJECTION_DAYS
from server.context import AppContext
from server.services.access import Viewer
from server.services.notices import MAX_PERIOD_DAYS, NoticesService, NoticeView


def notices(app: AppContext) -> NoticesService:
    """The notices service of ``app``."""
    return NoticesService(app.ledger, app.underwriting, app.claims)


def publish_claims(app: AppContext, *claim_ids: str) -> list[NoticeView]:
    """Publish the claims notice of each claim's region (its approved, unpaid claims)."""
    regions = sorted(
        {
            app.underwriting.farmer(app.claims.claim(c).farmer_id).region
            for c in claim_ids
        }
    )
    service = notices(app)
    published = []
    for region in regions:
        today = service._today(region)
        published.append(
            service.publish(
                Viewer("adjuster"),
                kind="claims",
                region=region,
                start=today - timedelta(days=MAX_PERIOD_DAYS - 1),
                end=today,
                objection_days=MIN_OBJECTION_DAYS,
                actor="notice-clerk",
            )
        )
    return published


def pass_days(app: AppContext, days: int) -> None:
    """Move the ledger's clock (the services' today) ``days`` days on."""
    before = app.ledger.clock
    app.ledger.clock = lambda: before() + timedelta(days=days)


def clear_for_payment(app: AppContext, *claim_ids: str) -> list[NoticeView]:
    """Post the claims on their region's claims notice, then let its objection period pass."""
    published = publish_claims(app, *claim_ids)
    pass_days(app, MIN_OBJECTION_DAYS + 1)
    return published


@contextmanager
def days_ago(app: AppContext, days: int) -> Iterator[None]:
    """Within the block, the services write ``days`` days in the past (the ledger's clock)."""
    before = app.ledger.clock
    app.ledger.clock = lambda: before() - timedelta(days=days)
    try:
        yield
    finally:
        app.ledger.clock = before


def approved_and_cleared(
    app: AppContext,
    *claim_ids: str,
    actor: str,
    reason: str = "vet certificate seen",
) -> list[NoticeView]:
    """Approve the claims (as ``actor``) and post them on their region's claims notice
    :data:`claims.MIN_OBJECTION_DAYS` + 1 days ago: by today, on any server's real
    clock, the objection period is over and they may be paid (by someone else)."""
    with days_ago(app, MIN_OBJECTION_DAYS + 1):
        for claim in claim_ids:
            app.claims.decide(claim, "approve", actor=actor, reason=reason)
        return publish_claims(app, *claim_ids)

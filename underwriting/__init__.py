"""Underwriting: applications, checks, pricing and policies (pure, ports only).

Not built yet (see the underwriting and claims issue).
"""

__all__: list[str] = []

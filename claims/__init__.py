"""Claims: intake, fraud and duplicate checks, indemnity, decisions (pure, ports only).

Not built yet (see the underwriting and claims issue).
"""

__all__: list[str] = []

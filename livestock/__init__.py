"""Livestock face ID: embedding model, weights, enrolment registry and 1:N search.

Not built yet (see the livestock face-ID issue); the package exists so the import
rules hold from the start.
"""

__all__: list[str] = []

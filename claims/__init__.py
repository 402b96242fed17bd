"""Claims: indemnity arithmetic (pure, ports only).

Built so far: crop and livestock indemnities with their breakdown. Intake,
checks and decisions come with the underwriting and claims issue.
"""

from claims.errors import ClaimsError, IndemnityError
from claims.indemnity import Indemnity, crop_indemnity, livestock_indemnity

__all__ = [
    "ClaimsError",
    "Indemnity",
    "IndemnityError",
    "crop_indemnity",
    "livestock_indemnity",
]

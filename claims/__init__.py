"""Claims: indemnity arithmetic (pure, ports only).

Built so far: crop and livestock indemnities with their breakdown, and the
claim checks with their traffic light. Intake, storage and decisions come with
the underwriting and claims issue.
"""

from claims.checks import Check, Light, traffic_light
from claims.errors import ClaimsError, IndemnityError
from claims.indemnity import Indemnity, crop_indemnity, livestock_indemnity

__all__ = [
    "Check",
    "ClaimsError",
    "Indemnity",
    "IndemnityError",
    "Light",
    "crop_indemnity",
    "livestock_indemnity",
    "traffic_light",
]

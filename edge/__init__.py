"""Edge: on-device model export and the offline capture client.

Not built yet.
"""

__all__: list[str] = []

"""Plots and imagery: geodesic area, overlaps, NDVI and crop damage from rasters.

Not built yet (see the remote-sensing issue); the package exists so the import
rules hold from the start.
"""

__all__: list[str] = []

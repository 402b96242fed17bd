"""Remote-sensing errors.

* RemoteSensingError
  + PlotFileError (also ValueError)      a plot file cannot be read as a whole
    + UnsafeArchiveError                 a zip is too large or compresses suspiciously well
  + RasterError (also ValueError)        a raster cannot be read or used
    + BandError                          a band map names a band the raster lacks
    + GridMismatchError                  rasters that must share a grid do not
  + ParameterError (also ValueError)     an option is out of range or malformed

Problems with a single plot are never raised: they are reported per plot
(:class:`remote_sensing.plots.Problem`) so one bad plot never sinks a file.
"""

from __future__ import annotations

__all__ = [
    "BandError",
    "GridMismatchError",
    "ParameterError",
    "PlotFileError",
    "RasterError",
    "RemoteSensingError",
    "UnsafeArchiveError",
]


class RemoteSensingError(Exception):
    """Root of every error raised by the remote_sensing package."""


class PlotFileError(RemoteSensingError, ValueError):
    """A plot file cannot be read at all (missing, corrupt, unknown format, no CRS).

    Attributes:
        field: the option at fault when it is not the file itself (``id_column``
            or ``declared_column`` naming a column the file lacks), else None.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnsafeArchiveError(PlotFileError):
    """A zipped upload would expand beyond the limits (a zip bomb), or is not a zip."""


class RasterError(RemoteSensingError, ValueError):
    """A raster cannot be opened, is truncated, or lacks what the operation needs."""


class BandError(RasterError):
    """A band map names a band number the raster does not have."""


class GridMismatchError(RasterError):
    """Two rasters that must be read on one pixel grid do not share it."""


class ParameterError(RemoteSensingError, ValueError):
    """An option (tolerance, threshold, band map, bounds) is malformed or out of range."""

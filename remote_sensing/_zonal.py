"""exactextract with plots passed as WKB and results gathered into numpy arrays.

exactextract's GeoPandas adapter turns every plot into a GeoJSON dict and back;
passing WKB from shapely and collecting scalars directly avoids that work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from exactextract import exact_extract
from exactextract.feature import Feature, FeatureSource
from exactextract.operation import Operation
from exactextract.raster import RasterSource
from exactextract.writer import Writer

from remote_sensing.imagery import Grid

__all__ = ["DerivedLayer", "zonal"]

WindowReader = Callable[[int, int, int, int], npt.NDArray[np.float64]]


class DerivedLayer(RasterSource):  # type: ignore[misc]
    """A raster computed on demand, window by window, on ``grid``.

    ``read(x0, y0, nx, ny)`` returns float64 values for the pixel window (NaN
    where there is no value). Keep a reference for as long as exactextract
    runs: it holds Python sources only weakly.
    """

    def __init__(self, name: str, grid: Grid, read: WindowReader) -> None:
        super().__init__()
        self._grid = grid
        self._read = read
        self.set_name(name)

    def res(self) -> tuple[float, float]:
        return (abs(self._grid.transform.a), abs(self._grid.transform.e))

    def extent(self) -> tuple[float, float, float, float]:
        return self._grid.bounds

    def srs_wkt(self) -> str:
        return str(self._grid.crs.to_wkt())

    def nodata_value(self) -> None:
        return None

    def read_window(
        self, x0: int, y0: int, nx: int, ny: int
    ) -> npt.NDArray[np.float64]:
        return self._read(x0, y0, nx, ny)


class _Plot(Feature):  # type: ignore[misc]
    """One plot: its row number and WKB geometry."""

    def __init__(self, row: int = -1, wkb: bytes | None = None) -> None:
        super().__init__()
        self.row = row
        self.wkb = wkb
        self.values: dict[str, Any] = {}

    def geometry(self) -> bytes | None:
        return self.wkb

    def set_geometry(self, wkb: bytes | None) -> None:
        self.wkb = wkb

    def set_geometry_format(self) -> str:
        return "wkb"

    def get(self, name: str) -> Any:
        return self.row if name == "row" else self.values[name]

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value

    def fields(self) -> list[str]:
        return ["row", *self.values]


class _Plots(FeatureSource):  # type: ignore[misc]
    def __init__(
        self, rows: Sequence[int], wkbs: Sequence[bytes], srs_wkt: str
    ) -> None:
        super().__init__()
        self._rows, self._wkbs, self._srs = rows, wkbs, srs_wkt

    def count(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[_Plot]:
        for row, wkb in zip(self._rows, self._wkbs, strict=True):
            yield _Plot(row, wkb)

    def srs_wkt(self) -> str:
        return self._srs


class _Columns(Writer):  # type: ignore[misc]
    """Collects each operation's scalar result into a column."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.columns: dict[str, npt.NDArray[np.float64]] = {}
        self._i = 0
        self.rows = np.full(n, -1, dtype=np.int64)

    def add_operation(self, op: Operation) -> None:
        self.columns[op.name] = np.full(self.n, np.nan)

    def add_column(self, name: str) -> None:
        pass

    def add_geometry(self) -> None:
        pass

    def write(self, feature: Any) -> None:
        sink = _Plot()
        feature.copy_to(sink)
        self.rows[self._i] = sink.values["row"]
        for name, value in sink.values.items():
            if name in self.columns and value is not None:
                self.columns[name][self._i] = value
        self._i += 1

    def features(self) -> None:
        return None


def zonal(
    geometries: npt.NDArray[np.object_],
    rows: npt.NDArray[np.int64],
    srs_wkt: str,
    ops: list[Operation],
    n: int,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, npt.NDArray[np.float64]]:
    """Run ``ops`` over ``geometries`` (in the rasters' CRS); one array of ``n`` per op.

    ``rows[k]`` is the output position of ``geometries[k]``; positions not
    processed stay NaN.
    """
    writer = _Columns(len(rows))
    wkbs = shapely.to_wkb(geometries)
    exact_extract(
        None,
        _Plots(rows.tolist(), list(wkbs), srs_wkt),
        ops,
        include_cols=["row"],
        output=writer,
        progress=progress if progress is not None else False,
    )
    out = {}
    done = writer.rows[: writer._i]
    for name, column in writer.columns.items():
        full = np.full(n, np.nan)
        full[done] = column[: writer._i]
        out[name] = full
    return out

"""Standard exports of the insurer's records: plots, claims, policies, assessment imagery.

What each export holds and why (``docs/exports.md`` has the whole mapping):

* **Insured plots** as fiboa 0.3.0 (on Vecorel 0.1.0) in GeoParquet 1.1
  (:meth:`ExportService.write_plots`, format ``fiboa``): fiboa's core fields
  (``id``, ``geometry``, ``bbox``, ``metrics:area`` and ``metrics:perimeter``
  in m2 and m, geodesic on WGS84, ``category`` administrative,
  ``determination:datetime`` the survey's time) and the insurance fields
  ``insurance:*`` (policy, plot id, product, farmer, sum insured in minor
  units and its currency, declared area in m2, the period), declared as a
  custom schema in the collection metadata (``schemas:custom``), the way
  fiboa's tools read one. Format ``geojson``: the same features as an RFC
  7946 FeatureCollection.
* **Claims and policies** as CSV (UTF-8 with a byte order mark, RFC 4180: CRLF,
  quoted where needed) or XLSX (typed cells: dates as dates, money as numbers
  beside a currency column, the header row frozen), the same columns in both,
  headed in the reader's language (``export.*`` in ``server/i18n``). Text a
  spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@`` first) is
  kept as text: an XLSX string cell, a CSV cell behind a ``'``.
* **A crop assessment's imagery** as STAC 1.1.0 (pystac): one item per scene
  of each assessment (before and after), its footprint and date, an asset
  pointing at the registered COG with its ``bands`` (``eo:common_name``, EO
  extension 2.0.0), and the assessment's parameters as ``agri:*`` properties
  (the claim, the index and its bands, the damage threshold, the plot's
  shape, the mean NDVI measured); one collection per claim or per event.

A file is written to a binary stream the caller owns (a file for the CLI, a
spooled temporary file the API streams). One export holds at most
:data:`MAX_ROWS` records: more is refused (422), naming the filters that
narrow it. Nothing here writes to the database.

Heavy libraries (pyarrow, openpyxl, pystac) are imported only by the
functions that write each format.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import shapely
from shapely.geometry import mapping
from sqlalchemy import Connection, Engine

from claims import Status
from remote_sensing import (
    RemoteSensingError,
    Scene,
    SceneCatalogue,
    SceneNotFoundError,
    geodesic_area_perimeter,
)
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.i18n import Lang, render_message
from server.services.work import reading
from server.storage.assessment_store import AssessmentRecord, AssessmentStore
from server.storage.claims_store import ClaimRecord, ClaimStore
from server.storage.plots_store import ExportedPlot, PlotStore
from server.storage.underwriting_store import FarmerStore, PolicyRecord, PolicyStore
from underwriting import CropProduct, Money, Product

if TYPE_CHECKING:
    import pystac

__all__ = [
    "CLAIM_COLUMNS",
    "COLLECTION_ID",
    "EO_EXTENSION",
    "FIBOA_SCHEMA",
    "INSURANCE_SCHEMA",
    "MAX_ROWS",
    "MEDIA_TYPES",
    "POLICY_COLUMNS",
    "VECOREL_SCHEMA",
    "Column",
    "ExportService",
    "PlotFeature",
    "TableFormat",
]

MAX_ROWS = 100_000
"""The most records one export holds; more is refused, naming the filters."""

VECOREL_SCHEMA = "https://vecorel.org/specification/v0.1.0/schema.yaml"
"""Vecorel core 0.1.0, which fiboa 0.3.0 builds on."""
FIBOA_SCHEMA = "https://fiboa.org/specification/v0.3.0/schema.yaml"
"""fiboa core 0.3.0: the version ``fiboa-cli`` 0.21 validates."""
SDL = "https://vecorel.org/sdl/v0.2.0/schema.json"
"""The schema language of Vecorel schemas (the custom schema's ``$schema``)."""
COLLECTION_ID = "agri-insured-plots"
"""The fiboa collection id of the insured plots (each feature's ``collection``)."""
EO_EXTENSION = "https://stac-extensions.github.io/eo/v2.0.0/schema.json"
"""STAC's EO extension 2.0.0: ``eo:common_name`` in a STAC 1.1 ``bands`` entry."""

PlotFormat = Literal["fiboa", "geojson"]
TableFormat = Literal["csv", "xlsx"]

MEDIA_TYPES: dict[str, str] = {
    "fiboa": "application/vnd.apache.parquet",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8; header=present",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "stac": "application/zip",
}
"""The media type of each export format (IANA names)."""

_INSURANCE_TEXT = {"type": "string", "minLength": 1}
INSURANCE_SCHEMA: dict[str, Any] = {
    "$schema": SDL,
    "required": [
        "bbox",
        "insurance:policy_id",
        "insurance:plot_ref",
        "insurance:product",
        "insurance:farmer_id",
        "insurance:sum_insured_minor",
        "insurance:currency",
        "insurance:start_date",
        "insurance:end_date",
    ],
    "collection": {},
    "properties": {
        "insurance:policy_id": _INSURANCE_TEXT,
        "insurance:plot_ref": _INSURANCE_TEXT,
        "insurance:product": _INSURANCE_TEXT,
        "insurance:farmer_id": _INSURANCE_TEXT,
        "insurance:sum_insured_minor": {"type": "int64", "minimum": 0},
        "insurance:currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "insurance:declared_area": {
            "type": "double",
            "exclusiveMinimum": 0,
        },
        "insurance:start_date": {"type": "date"},
        "insurance:end_date": {"type": "date"},
    },
}
"""The insurance fields of the plots export, as a Vecorel SDL custom schema.

It also makes ``bbox`` required: the file declares the column as its GeoParquet
bbox covering, whose repetition must be the geometry's (required).

``insurance:sum_insured_minor`` is the plot's sum insured (the product's per
mu or ha, for its measured area) in minor units (1/100) of
``insurance:currency``; ``insurance:declared_area`` the farmer's area in m2
(``metrics:area`` is the measured one); the period's days are inclusive.
"""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


@dataclass(frozen=True)
class PlotFeature:
    """An insured plot as the plots export writes it.

    Attributes:
        id: the feature id, ``POLICY/PLOT`` (unique in the collection).
        geometry: the plot (shapely, WGS84 lon/lat, exterior rings counter-clockwise).
        area_m2: measured geodesic area in m2 (at the survey); ``perimeter_m`` in m.
        declared_m2: the farmer's declared area in m2, if any.
        sum_insured: the product's sum insured for ``area_m2``.
        surveyed_at: when the plot was surveyed (its application submitted), UTC.
    """

    id: str
    plot_ref: str
    policy_id: str
    farmer_id: str
    product_code: str
    start_date: date
    end_date: date
    geometry: Any
    area_m2: float
    perimeter_m: float
    declared_m2: float | None
    sum_insured: Money
    surveyed_at: datetime


Kind = Literal["text", "date", "datetime", "money", "int"]


@dataclass(frozen=True)
class Column:
    """A column of a table export: its name, the catalogue key of its header, its kind.

    ``kind``: ``text``, ``date`` (a calendar day), ``datetime`` (UTC), ``money``
    (a decimal amount in major units; its currency has a column of its own)
    or ``int``.
    """

    name: str
    header: str
    kind: Kind


CLAIM_COLUMNS: tuple[Column, ...] = (
    Column("claim_id", "export.claim_id", "text"),
    Column("policy_id", "export.policy_id", "text"),
    Column("farmer_id", "export.farmer_id", "text"),
    Column("subject_kind", "export.subject_kind", "text"),
    Column("subject_id", "export.subject_id", "text"),
    Column("event_id", "export.event_id", "text"),
    Column("event_date", "export.event_date", "date"),
    Column("reported_at", "export.reported_at", "datetime"),
    Column("status", "export.status", "text"),
    Column("light", "export.light", "text"),
    Column("amount", "export.amount", "money"),
    Column("currency", "export.currency", "text"),
    Column("decided_by", "export.decided_by", "text"),
    Column("payment_ref", "export.payment_ref", "text"),
)
"""The columns of the claims export, in order (codes as stored: status, light, kind)."""

POLICY_COLUMNS: tuple[Column, ...] = (
    Column("policy_id", "export.policy_id", "text"),
    Column("farmer_id", "export.farmer_id", "text"),
    Column("product", "export.product", "text"),
    Column("kind", "export.kind", "text"),
    Column("start_date", "export.start_date", "date"),
    Column("end_date", "export.end_date", "date"),
    Column("sum_insured", "export.sum_insured", "money"),
    Column("premium", "export.premium", "money"),
    Column("premium_farmer", "export.premium_farmer", "money"),
    Column("premium_central", "export.premium_central", "money"),
    Column("premium_provincial", "export.premium_provincial", "money"),
    Column("premium_county", "export.premium_county", "money"),
    Column("currency", "export.currency", "text"),
    Column("plots", "export.plots", "int"),
    Column("animals", "export.animals", "int"),
    Column("application_id", "export.application_id", "text"),
)
"""The columns of the policies export, in order."""

Cell = str | int | Decimal | date | datetime | None


def _claim_row(c: ClaimRecord) -> dict[str, Cell]:
    return {
        "claim_id": c.id,
        "policy_id": c.policy_id,
        "farmer_id": c.farmer_id,
        "subject_kind": c.subject_kind,
        "subject_id": c.subject_id,
        "event_id": c.event_id,
        "event_date": c.event_date,
        "reported_at": c.reported_at,
        "status": c.status,
        "light": c.light,
        "amount": Decimal(c.amount.minor) / 100,
        "currency": c.amount.currency,
        "decided_by": c.decided_by,
        "payment_ref": c.payment_ref,
    }


def _policy_row(p: PolicyRecord) -> dict[str, Cell]:
    premium = p.premium

    def part(name: str) -> Decimal | None:
        value = premium.get(name)
        return Decimal(value) if value is not None else None

    return {
        "policy_id": p.id,
        "farmer_id": p.farmer_id,
        "product": p.product_code,
        "kind": p.kind,
        "start_date": p.start_date,
        "end_date": p.end_date,
        "sum_insured": Decimal(p.sum_insured.minor) / 100,
        "premium": part("total"),
        "premium_farmer": part("farmer"),
        "premium_central": part("central"),
        "premium_provincial": part("provincial"),
        "premium_county": part("county"),
        "currency": p.sum_insured.currency,
        "plots": len(p.plots),
        "animals": len(p.animals),
        "application_id": p.application_id,
    }


def _too_many(what: str, total: int, limit: int, narrow: str) -> InvalidInputError:
    return InvalidInputError(
        f"{total:,} {what} match: one export holds at most {limit:,}; "
        f"narrow it with {narrow}",
        field=None,
    )


class ExportService:
    """Exports of plots, claims and policies, and STAC of assessments' imagery.

    Args:
        engine: the database (read only: nothing here writes).
        imagery: the scene catalogue folder (``AGRI_IMAGERY_DIR``) whose COGs
            the STAC assets point at.
    """

    def __init__(self, engine: Engine, imagery: Path) -> None:
        self.engine = engine
        self.imagery = imagery
        self.plots_store = PlotStore()
        self.claims_store = ClaimStore(engine)
        self.policy_store = PolicyStore()
        self.farmer_store = FarmerStore()

    # --- plots -----------------------------------------------------------------------

    def _check_filters(
        self, conn: Connection, product: str | None, farmer_id: str | None
    ) -> Product | None:
        found = None
        if product is not None:
            found = self.farmer_store.product(conn, product)
            if found is None:
                raise NotFoundError(f"no product {product}", field="product")
        if farmer_id is not None and self.farmer_store.farmer(conn, farmer_id) is None:
            raise NotFoundError(f"no farmer {farmer_id}", field="farmer_id")
        return found

    def plot_features(
        self,
        *,
        on: date | None = None,
        product: str | None = None,
        farmer_id: str | None = None,
        max_rows: int = MAX_ROWS,
        conn: Connection | None = None,
    ) -> list[PlotFeature]:
        """The insured plots (plots of issued policies), by policy then plot id.

        Args:
            on: only plots of policies in force on this day (both ends inclusive).
            product: only plots of policies of this product code.
            farmer_id: only this farmer's plots.
            max_rows: the most plots returned (more matching is refused).
            conn: the caller's unit of work, or None for a read-only connection.

        Raises:
            NotFoundError: an unknown product or farmer (``field`` names it).
            InvalidInputError: more than ``max_rows`` plots match.
        """
        with reading(self.engine, conn) as c:
            self._check_filters(c, product, farmer_id)
            rows, total = self.plots_store.insured_for_export(
                c, day=on, product_code=product, farmer_id=farmer_id, limit=max_rows
            )
            if total > max_rows:
                raise _too_many(
                    "insured plots", total, max_rows, "on, product or farmer_id"
                )
            products: dict[str, Product | None] = {}
            for code in {r.product_code for r in rows}:
                products[code] = self.farmer_store.product(c, code)
        return _features(rows, products)

    def write_plots(
        self,
        out: BinaryIO,
        fmt: PlotFormat,
        *,
        on: date | None = None,
        product: str | None = None,
        farmer_id: str | None = None,
        max_rows: int = MAX_ROWS,
    ) -> int:
        """Write the insured plots to ``out`` as fiboa GeoParquet or GeoJSON; the count.

        Raises as :meth:`plot_features`.
        """
        features = self.plot_features(
            on=on, product=product, farmer_id=farmer_id, max_rows=max_rows
        )
        if fmt == "fiboa":
            write_fiboa(features, out)
        else:
            out.write(json.dumps(plots_geojson(features), ensure_ascii=False).encode())
        return len(features)

    # --- claims and policies -----------------------------------------------------------

    def claims(
        self,
        *,
        status: Status | None = None,
        farmer_id: str | None = None,
        max_rows: int = MAX_ROWS,
    ) -> list[ClaimRecord]:
        """Claims, newest report first, optionally in one status or of one farmer.

        Raises:
            NotFoundError: an unknown farmer.
            InvalidInputError: more than ``max_rows`` claims match.
        """
        with reading(self.engine) as c:
            self._check_filters(c, None, farmer_id)
        page = self.claims_store.page(
            farmer_id=farmer_id, status=status, offset=0, limit=max_rows
        )
        if page.total > max_rows:
            raise _too_many("claims", page.total, max_rows, "status or farmer_id")
        return list(page.items)

    def policies(
        self, *, farmer_id: str | None = None, max_rows: int = MAX_ROWS
    ) -> list[PolicyRecord]:
        """Policies, newest first, optionally of one farmer.

        Raises:
            NotFoundError: an unknown farmer.
            InvalidInputError: more than ``max_rows`` policies match.
        """
        with reading(self.engine) as c:
            self._check_filters(c, None, farmer_id)
            items, total = self.policy_store.policies(
                c, farmer_id=farmer_id, offset=0, limit=max_rows
            )
        if total > max_rows:
            raise _too_many("policies", total, max_rows, "farmer_id")
        return items

    def write_claims(
        self,
        out: BinaryIO,
        fmt: TableFormat,
        lang: Lang,
        *,
        status: Status | None = None,
        farmer_id: str | None = None,
        max_rows: int = MAX_ROWS,
    ) -> int:
        """Write the claims to ``out`` as CSV or XLSX headed in ``lang``; the count.

        Raises as :meth:`claims`.
        """
        rows = [
            _claim_row(c)
            for c in self.claims(status=status, farmer_id=farmer_id, max_rows=max_rows)
        ]
        write_table(out, fmt, CLAIM_COLUMNS, rows, lang, sheet="claims")
        return len(rows)

    def write_policies(
        self,
        out: BinaryIO,
        fmt: TableFormat,
        lang: Lang,
        *,
        farmer_id: str | None = None,
        max_rows: int = MAX_ROWS,
    ) -> int:
        """Write the policies to ``out`` as CSV or XLSX headed in ``lang``; the count.

        Raises as :meth:`policies`.
        """
        rows = [
            _policy_row(p)
            for p in self.policies(farmer_id=farmer_id, max_rows=max_rows)
        ]
        write_table(out, fmt, POLICY_COLUMNS, rows, lang, sheet="policies")
        return len(rows)

    # --- STAC of assessments' imagery --------------------------------------------------

    def stac_for_claim(self, claim_id: str) -> pystac.Collection:
        """The STAC collection of a crop claim's assessment: its before and after items.

        Raises:
            NotFoundError: no such claim (``claim_id``).
            ConflictError: the claim has no assessment by map, or a scene of
                it is not in the catalogue (assessed on a file given directly).
        """
        with reading(self.engine) as c:
            claim = self.claims_store.get(claim_id, c)
            assessment = AssessmentStore().get(c, claim_id)
            if assessment is None:
                raise ConflictError(
                    f"claim {claim_id} has no assessment by map: nothing to export",
                    field="claim_id",
                )
            plot = self.claims_store.insured_plot(c, claim.policy_id, claim.subject_id)
        catalogue = SceneCatalogue(self.imagery)
        scenes = self._scenes(catalogue, assessment)
        if isinstance(scenes, str):
            raise ConflictError(
                f"claim {claim_id}: {scenes}: it cannot be exported as STAC",
                field="claim_id",
            )
        collection = _collection(
            f"claim-{claim_id}",
            f"The imagery of the assessment by map of claim {claim_id}: the scene "
            "before and the scene after the loss, with what the assessment measured.",
        )
        items = _items(claim, assessment, scenes, catalogue, plot)
        return _finish(collection, items, [claim.id], [])

    def stac_for_event(self, event_id: str) -> pystac.Collection:
        """The STAC collection of an event's crop claims assessed by map: two items each.

        Claims of the event not assessed by map, or assessed on a scene the
        catalogue no longer holds, are listed in ``agri:skipped`` with why.

        Raises:
            NotFoundError: no crop claim carries ``event_id``, or none of them
                has an assessment on catalogue scenes (``event_id``).
        """
        with reading(self.engine) as c:
            claims = self.claims_store.event_claims(c, event_id, subject_kind="plot")
            found = [
                (
                    claim,
                    AssessmentStore().get(c, claim.id),
                    self.claims_store.insured_plot(
                        c, claim.policy_id, claim.subject_id
                    ),
                )
                for claim in claims
            ]
        if not found:
            raise NotFoundError(f"no crop claim of event {event_id}", field="event_id")
        catalogue = SceneCatalogue(self.imagery)
        items: list[pystac.Item] = []
        exported: list[str] = []
        skipped: list[dict[str, str]] = []
        for claim, assessment, plot in found:
            if assessment is None:
                skipped.append({"claim": claim.id, "reason": "not_assessed"})
                continue
            scenes = self._scenes(catalogue, assessment)
            if isinstance(scenes, str):
                skipped.append({"claim": claim.id, "reason": "scene_not_registered"})
                continue
            items += _items(claim, assessment, scenes, catalogue, plot)
            exported.append(claim.id)
        if not items:
            raise NotFoundError(
                f"no claim of event {event_id} is assessed on catalogue scenes",
                field="event_id",
            )
        collection = _collection(
            f"event-{event_id}",
            f"The imagery of the assessments by map of the crop claims of event "
            f"{event_id}: for each claim the scene before and the scene after the loss.",
        )
        return _finish(collection, items, exported, skipped)

    def _scenes(
        self, catalogue: SceneCatalogue, assessment: AssessmentRecord
    ) -> tuple[Scene, Scene] | str:
        """The assessment's before and after scenes, or why they cannot be had."""
        pair = []
        for name in (assessment.before_scene, assessment.after_scene):
            try:
                pair.append(catalogue.get(name))
            except SceneNotFoundError:
                return f"scene {name} is not in the imagery catalogue"
            except RemoteSensingError as exc:
                return f"the imagery catalogue cannot be read ({exc})"
        return pair[0], pair[1]


# --- plots: features, fiboa GeoParquet, GeoJSON ------------------------------------------


def _features(
    rows: Sequence[ExportedPlot], products: dict[str, Product | None]
) -> list[PlotFeature]:
    geoms = shapely.orient_polygons(
        shapely.from_wkb([r.geometry for r in rows]), exterior_cw=False
    )
    _, perimeters = geodesic_area_perimeter(geoms)
    out = []
    for row, geom, perimeter in zip(rows, geoms, perimeters, strict=True):
        product = products.get(row.product_code)
        if isinstance(product, CropProduct):
            insured = product.sum_insured(Decimal(str(round(row.area_m2, 2))))
        else:  # pragma: no cover - plots are insured by crop products only
            insured = Money(0, row.currency)
        out.append(
            PlotFeature(
                f"{row.policy_id}/{row.plot_ref}",
                row.plot_ref,
                row.policy_id,
                row.farmer_id,
                row.product_code,
                row.start_date,
                row.end_date,
                geom,
                row.area_m2,
                float(perimeter),
                row.declared_m2,
                insured,
                row.surveyed_at,
            )
        )
    return out


def collection_metadata() -> dict[str, Any]:
    """The ``collection`` key of the GeoParquet file: its schemas and the custom one."""
    return {
        "schemas": {COLLECTION_ID: [VECOREL_SCHEMA, FIBOA_SCHEMA]},
        "schemas:custom": INSURANCE_SCHEMA,
    }


def write_fiboa(features: Sequence[PlotFeature], out: BinaryIO) -> None:
    """Write ``features`` as fiboa GeoParquet 1.1 (WKB, bbox covering, no CRS: OGC:CRS84).

    Fields required by fiboa, Vecorel and :data:`INSURANCE_SCHEMA` are
    non-nullable columns, the others nullable (fiboa's validator holds a
    file to that). The ``geo`` metadata declares the geometry types present,
    the overall bbox, counter-clockwise exteriors and the ``bbox`` column as
    the covering.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    bounds = [shapely.bounds(f.geometry) for f in features]
    box = pa.struct(
        [
            ("xmin", pa.float64()),
            ("ymin", pa.float64()),
            ("xmax", pa.float64()),
            ("ymax", pa.float64()),
        ]
    )
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("collection", pa.string(), nullable=False),
        pa.field("geometry", pa.binary(), nullable=False),
        pa.field("bbox", box, nullable=False),
        pa.field("metrics:area", pa.float32()),
        pa.field("metrics:perimeter", pa.float32()),
        pa.field("category", pa.list_(pa.string())),
        pa.field("determination:datetime", pa.timestamp("ms", tz="UTC")),
        pa.field("determination:method", pa.string()),
        pa.field("insurance:policy_id", pa.string(), nullable=False),
        pa.field("insurance:plot_ref", pa.string(), nullable=False),
        pa.field("insurance:product", pa.string(), nullable=False),
        pa.field("insurance:farmer_id", pa.string(), nullable=False),
        pa.field("insurance:sum_insured_minor", pa.int64(), nullable=False),
        pa.field("insurance:currency", pa.string(), nullable=False),
        pa.field("insurance:declared_area", pa.float64()),
        pa.field("insurance:start_date", pa.date32(), nullable=False),
        pa.field("insurance:end_date", pa.date32(), nullable=False),
    ]
    columns: dict[str, list[Any]] = {
        "id": [f.id for f in features],
        "collection": [COLLECTION_ID] * len(features),
        "geometry": [shapely.to_wkb(f.geometry, flavor="iso") for f in features],
        "bbox": [
            dict(zip(("xmin", "ymin", "xmax", "ymax"), b, strict=True)) for b in bounds
        ],
        "metrics:area": [f.area_m2 for f in features],
        "metrics:perimeter": [f.perimeter_m for f in features],
        "category": [["administrative"]] * len(features),
        "determination:datetime": [f.surveyed_at for f in features],
        "determination:method": ["unknown"] * len(features),
        "insurance:policy_id": [f.policy_id for f in features],
        "insurance:plot_ref": [f.plot_ref for f in features],
        "insurance:product": [f.product_code for f in features],
        "insurance:farmer_id": [f.farmer_id for f in features],
        "insurance:sum_insured_minor": [f.sum_insured.minor for f in features],
        "insurance:currency": [f.sum_insured.currency for f in features],
        "insurance:declared_area": [f.declared_m2 for f in features],
        "insurance:start_date": [f.start_date for f in features],
        "insurance:end_date": [f.end_date for f in features],
    }
    geo: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": sorted({f.geometry.geom_type for f in features}),
        "orientation": "counterclockwise",
        "covering": {
            "bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}
        },
    }
    if features:
        every = shapely.total_bounds([f.geometry for f in features])
        geo["bbox"] = [float(v) for v in every]
    metadata = {
        b"geo": json.dumps(
            {
                "version": "1.1.0",
                "primary_column": "geometry",
                "columns": {"geometry": geo},
            }
        ).encode(),
        b"collection": json.dumps(collection_metadata()).encode(),
    }
    schema = pa.schema(fields, metadata=metadata)
    table = pa.Table.from_pydict(columns, schema=schema)
    pq.write_table(table, out, compression="zstd")


def plots_geojson(features: Sequence[PlotFeature]) -> dict[str, Any]:
    """``features`` as an RFC 7946 FeatureCollection with the fiboa and insurance properties.

    Dates are ISO 8601 days, the survey's time ISO 8601 in UTC (``Z``); each
    feature carries its ``bbox``.
    """
    out = []
    for f in features:
        out.append(
            {
                "type": "Feature",
                "id": f.id,
                "bbox": [float(v) for v in shapely.bounds(f.geometry)],
                "geometry": mapping(f.geometry),
                "properties": {
                    "collection": COLLECTION_ID,
                    "metrics:area": f.area_m2,
                    "metrics:perimeter": f.perimeter_m,
                    "category": ["administrative"],
                    "determination:datetime": f.surveyed_at.astimezone(UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "determination:method": "unknown",
                    "insurance:policy_id": f.policy_id,
                    "insurance:plot_ref": f.plot_ref,
                    "insurance:product": f.product_code,
                    "insurance:farmer_id": f.farmer_id,
                    "insurance:sum_insured_minor": f.sum_insured.minor,
                    "insurance:currency": f.sum_insured.currency,
                    "insurance:declared_area": f.declared_m2,
                    "insurance:start_date": f.start_date.isoformat(),
                    "insurance:end_date": f.end_date.isoformat(),
                },
            }
        )
    return {"type": "FeatureCollection", "features": out}


# --- tables: CSV and XLSX ------------------------------------------------------------------


def headers(columns: Sequence[Column], lang: Lang) -> list[str]:
    """The header row of ``columns`` in ``lang`` (``server/i18n``'s ``export.*`` keys)."""
    return [render_message(c.header, {}, lang) for c in columns]


def _as_text(value: str) -> str:
    """A text cell for a CSV: a leading formula character is kept behind ``'`` (OWASP)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_cell(kind: Kind, value: Cell) -> str:
    if value is None:
        return ""
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if kind in ("date", "money", "int"):
        return value.isoformat() if isinstance(value, date) else str(value)
    return _as_text(str(value))


def write_table(
    out: BinaryIO,
    fmt: TableFormat,
    columns: Sequence[Column],
    rows: Iterable[dict[str, Cell]],
    lang: Lang,
    *,
    sheet: str,
) -> None:
    """Write ``rows`` (a dict per row, by column name) as CSV or XLSX under a header row.

    CSV: UTF-8 with a byte order mark, CRLF line ends, fields quoted where
    RFC 4180 needs it; days ``YYYY-MM-DD``, times ISO 8601 in UTC (``Z``),
    amounts as plain decimals. XLSX: one sheet named ``sheet``, the header row
    bold, frozen and filtered, days and times (UTC) as date cells, amounts
    as numbers with two decimals, text always as text.
    """
    if fmt == "csv":
        text = io.TextIOWrapper(
            out, encoding="utf-8-sig", newline="", write_through=True
        )
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(headers(columns, lang))
        for row in rows:
            writer.writerow([_csv_cell(c.kind, row[c.name]) for c in columns])
        text.flush()
        text.detach()  # leave ``out`` open for its owner
        return
    _write_xlsx(out, columns, rows, lang, sheet)


_XLSX_FORMATS = {
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
    "money": "#,##0.00",
    "int": "0",
}


def _write_xlsx(
    out: BinaryIO,
    columns: Sequence[Column],
    rows: Iterable[dict[str, Cell]],
    lang: Lang,
    sheet: str,
) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.freeze_panes = "A2"
    names = headers(columns, lang)
    for i, (column, name) in enumerate(zip(columns, names, strict=True), start=1):
        wide = 12 if column.kind in ("date", "money", "int") else 20
        if column.kind == "datetime":
            wide = 20
        ws.column_dimensions[get_column_letter(i)].width = max(wide, len(name) + 4)
    header = []
    for name in names:
        cell = WriteOnlyCell(ws, name)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)
    count = 0
    for row in rows:
        cells = []
        for column in columns:
            cells.append(_xlsx_cell(ws, WriteOnlyCell, column.kind, row[column.name]))
        ws.append(cells)
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{count + 1}"
    book.save(out)


def _xlsx_cell(ws: Any, make: Callable[..., Any], kind: Kind, value: Cell) -> Any:
    if value is None:
        return make(ws, None)
    if kind == "datetime" and isinstance(value, datetime):
        # Excel has no time zone: the UTC wall time (the header says UTC).
        value = value.astimezone(UTC).replace(tzinfo=None)
    if kind == "text":
        cell = make(ws, _ILLEGAL_XLSX.sub("\ufffd", str(value)))
        cell.data_type = "s"  # never a formula, whatever its first character
        return cell
    cell = make(ws, value)
    cell.number_format = _XLSX_FORMATS[kind]
    return cell


# --- STAC -------------------------------------------------------------------------------

_INDEX_BANDS = ("red", "nir")
_OPEN: list[list[datetime | None]] = [[None, None]]


def _collection(collection_id: str, description: str) -> pystac.Collection:
    import pystac

    return pystac.Collection(
        id=collection_id,
        description=description,
        extent=pystac.Extent(
            pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
            pystac.TemporalExtent(_OPEN),
        ),
        license="other",
        title=collection_id,
    )


def _day_span(day: date) -> tuple[datetime, datetime, datetime]:
    start = datetime.combine(day, time(0), UTC)
    return start, start, start + timedelta(days=1) - timedelta(milliseconds=1)


def _items(
    claim: ClaimRecord,
    assessment: AssessmentRecord,
    scenes: tuple[Scene, Scene],
    catalogue: SceneCatalogue,
    plot: Any,
) -> list[pystac.Item]:
    import pystac

    threshold = assessment.damage.get("threshold")
    plot_geometry = (
        mapping(shapely.from_wkb(plot.geometry)) if plot is not None else None
    )
    common: dict[str, Any] = {
        "agri:claim_id": claim.id,
        "agri:policy_id": claim.policy_id,
        "agri:farmer_id": claim.farmer_id,
        "agri:plot_ref": claim.subject_id,
        "agri:plot_geometry": plot_geometry,
        "agri:event_id": claim.event_id,
        "agri:event_date": claim.event_date.isoformat() if claim.event_date else None,
        "agri:assessed_at": assessment.assessed_at.astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "agri:index": "ndvi",
        "agri:index_formula": "(nir - red) / (nir + red)",
        "agri:bands_used": list(_INDEX_BANDS),
        "agri:damage_threshold": threshold,
        "agri:before_scene": scenes[0].name,
        "agri:after_scene": scenes[1].name,
    }
    items = []
    for side, scene, ndvi in (
        ("before", scenes[0], assessment.ndvi_before),
        ("after", scenes[1], assessment.ndvi_after),
    ):
        when, start, end = _day_span(scene.date)
        item = pystac.Item(
            id=f"{claim.id}-{side}",
            geometry=mapping(shapely.box(*scene.bounds)),
            bbox=[float(v) for v in scene.bounds],
            datetime=when,
            start_datetime=start,
            end_datetime=end,
            properties={
                **common,
                "title": f"{scene.name} ({side} the loss of claim {claim.id})",
                "agri:side": side,
                "agri:scene": scene.name,
                "agri:ndvi_mean": ndvi,
                "agri:scale": scene.scale,
                "agri:offset": scene.offset,
                "agri:crs": scene.crs,
            },
            stac_extensions=[EO_EXTENSION],
        )
        bands = []
        for role, number in sorted(scene.bands.items(), key=lambda kv: kv[1]):
            band: dict[str, Any] = {
                "name": role,
                "description": f"band {number} of the COG",
                "eo:common_name": role,
            }
            if scene.nodata is not None:
                band["nodata"] = scene.nodata
            bands.append(band)
        item.add_asset(
            "data",
            pystac.Asset(
                href=str(catalogue.path(scene).resolve()),
                media_type=pystac.MediaType.COG,
                roles=["data"],
                title=f"{scene.name}, registered {scene.date.isoformat()}",
                extra_fields={
                    "bands": bands,
                    "agri:sha256": scene.cog_sha256 or None,
                },
            ),
        )
        items.append(item)
    return items


def _finish(
    collection: pystac.Collection,
    items: Sequence[pystac.Item],
    claims: Sequence[str],
    skipped: Sequence[dict[str, str]],
) -> pystac.Collection:
    import pystac

    for item in items:
        collection.add_item(item)
    boxes = [item.bbox for item in items if item.bbox is not None]
    west = min(b[0] for b in boxes)
    south = min(b[1] for b in boxes)
    east = max(b[2] for b in boxes)
    north = max(b[3] for b in boxes)
    times = [t for item in items for t in (item.common_metadata.start_datetime,) if t]
    ends = [t for item in items for t in (item.common_metadata.end_datetime,) if t]
    collection.extent = pystac.Extent(
        pystac.SpatialExtent([[west, south, east, north]]),
        pystac.TemporalExtent([[min(times), max(ends)]]),
    )
    collection.extra_fields["agri:claims"] = list(claims)
    collection.extra_fields["agri:skipped"] = list(skipped)
    return collection


def save_stac(collection: pystac.Collection, folder: Path) -> list[Path]:
    """Save ``collection`` as a self-contained static catalogue in ``folder``: the files.

    ``collection.json`` at the top, each item at ``ITEM/ITEM.json``, links
    relative; the assets keep their absolute paths to the registered COGs.
    """
    import pystac

    folder.mkdir(parents=True, exist_ok=True)
    collection.normalize_hrefs(str(folder))
    collection.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return sorted(p for p in folder.rglob("*.json"))


def write_stac_zip(collection: pystac.Collection, out: BinaryIO) -> None:
    """Write ``collection`` as a ZIP of :func:`save_stac`'s files under a folder of its id."""
    with tempfile.TemporaryDirectory(prefix="agri-stac-") as tmp:
        root = Path(tmp) / collection.id
        files = save_stac(collection, root)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(tmp).as_posix())

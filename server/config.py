"""Settings: one typed object, read from AGRI_* environment variables and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything an operator configures. Built by entry points, never at import."""

    model_config = SettingsConfigDict(
        env_prefix="AGRI_", env_file=".env", extra="ignore"
    )

    environment: Literal["development", "production"] = Field(
        "development",
        description="development allows generated keys and the in-process chain; "
        "production requires a key file and a configured chain.",
    )
    data_dir: Path = Field(
        Path("var"),
        description="Folder for the embedded database, generated keys and uploads.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. "
        "Default: SQLite file agri.db in AGRI_DATA_DIR.",
    )
    sqlite_synchronous: Literal["EXTRA", "FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite PRAGMA synchronous (WAL journal). FULL: every commit "
        "is on disk before it returns. NORMAL is faster but may lose the last "
        "committed transactions on power loss (the file stays consistent).",
    )
    db_pool_size: int = Field(
        10,
        ge=1,
        le=200,
        description="PostgreSQL: connections each server process keeps open; under "
        "load it opens as many again and closes them after use. Size it to the "
        "requests one process serves at once; processes x 2 x this must stay under "
        "the server's max_connections.",
    )
    ledger_key_file: Path | None = Field(
        None,
        description="Signer key file of the ledger (PRIVATE+KEY+name+id+key, from "
        "'agri ledger keygen'). Default in development: generated in AGRI_DATA_DIR.",
    )
    ledger_key_name: str = Field(
        "agri-insurance.local/ledger",
        description="Key name (and checkpoint origin) for a key generated in "
        "development.",
    )
    checkpoint_every: int = Field(
        1000, ge=1, description="Sign a checkpoint at least every N appended entries."
    )
    checkpoint_interval_s: float = Field(
        3600.0,
        gt=0,
        description="Sign a checkpoint when the last one is older than T seconds "
        "and entries were appended since.",
    )
    anchor_enabled: bool = Field(
        True, description="Anchor signed checkpoints on an EVM chain."
    )
    chain_rpc_url: SecretStr | None = Field(
        None,
        description="JSON-RPC URL of the EVM chain. Unset: an in-process eth-tester "
        "chain (development only; it lives as long as the process).",
    )
    chain_id: int | None = Field(
        None, description="Expected EIP-155 chain id, checked at start."
    )
    chain_key_file: Path | None = Field(
        None, description="File holding the hex private key of the anchoring account."
    )
    chain_contract: str | None = Field(
        None,
        description="Address of the deployed LedgerAnchor contract "
        "('agri ledger deploy-anchor' deploys one).",
    )

    token_ttl_s: int = Field(
        8 * 3600,
        ge=60,
        description="Lifetime of an API access token issued at login, in seconds.",
    )

    claim_notice_days: int = Field(
        14, ge=0, description="A loss must be reported within this many days."
    )
    photo_max_km: float = Field(
        5.0,
        gt=0,
        description="Claim photos must be taken within this distance (km) of the farm.",
    )
    # --- Claims: the farm's calendar and the four-eyes rule (issue 9) ---
    farm_timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone of the farms' calendar: every claim date rule "
        "(notice, an event in the future, photos taken before the loss day) counts "
        "local days there.",
    )
    farm_timezones: dict[str, str] = Field(
        default_factory=dict,
        description='Per-region time zones, JSON {"<farmer region>": "<IANA zone>"}; '
        "a farmer whose region is not listed uses AGRI_FARM_TIMEZONE.",
    )
    four_eyes_above_minor: int = Field(
        0,
        ge=0,
        description="Above this indemnity (minor units: fen, cents) the adjuster who "
        "approved a claim may not record its payment (0: every payment).",
    )
    notice_objection_days: int = Field(
        7,
        ge=3,
        le=30,
        description="A public notice's objection period in days, unless the notice "
        "sets its own (3 to 30): its claims are paid after it, with no objection open.",
    )
    # --- end of the claims settings ---
    imagery_dir: Path | None = Field(
        None,
        description="Folder of the scenes adjusters may assess claims on (GeoTIFF/COG). "
        "Default: imagery/ in AGRI_DATA_DIR.",
    )
    # --- Imagery tiles (issue 11) ---
    tile_cache_mb: int = Field(
        64,
        ge=0,
        description="Memory for rendered map tiles (PNG/WebP bytes), in MiB, "
        "least recently used dropped first; 0 turns the cache off.",
    )
    tile_render_workers: int | None = Field(
        None,
        ge=1,
        description="Threads that render map tiles, apart from those serving the API "
        "(default: half the CPU cores, at least 1).",
    )
    tile_render_queue: int = Field(
        16,
        ge=0,
        description="Tile renders that may wait for a render thread; more get 503 "
        "with Retry-After at once.",
    )
    tile_render_timeout_s: float = Field(
        10.0,
        gt=0,
        description="The longest a tile request waits for its render, seconds; then "
        "503 with Retry-After (the render finishes into the cache).",
    )
    tile_max_read_mpx: float = Field(
        16.0,
        gt=0,
        description="The most source pixels (millions, per band and scene) one tile "
        "render may read; a tile that would read more is not drawn (204).",
    )
    tile_rate_per_s: float = Field(
        50.0,
        gt=0,
        description="Map tile requests one client address may make per second, on "
        "average (429 with Retry-After beyond it).",
    )
    tile_burst: int = Field(
        400,
        ge=1,
        description="Map tile requests one client address may make at once before "
        "AGRI_TILE_RATE_PER_S applies.",
    )
    tile_max_age_s: int = Field(
        86400,
        ge=0,
        description="Cache-Control max-age of map tiles, in seconds "
        "(a scene's tiles never change while its name is registered).",
    )
    # --- end of the imagery tiles settings ---
    max_upload_mb: int = Field(
        25, ge=1, description="Largest plot file accepted by an upload, in MiB."
    )
    # --- HTTP limits: request bodies, photo pixels, login rate (issue 9) ---
    max_request_mb: int = Field(
        100,
        ge=1,
        description="Largest request body the API reads, in MiB (all files of one "
        "upload together); refused with 413 before any parsing.",
    )
    max_photo_megapixels: float = Field(
        40.0,
        gt=0,
        description="Most pixels (width x height, in millions) of one uploaded photo, "
        "read from its header before decoding; more is refused with 413.",
    )
    max_request_megapixels: float = Field(
        120.0,
        gt=0,
        description="Most pixels (in millions) of all photos of one request together, "
        "which bounds the memory their decoding takes; more is refused with 413.",
    )
    login_free_failures: int = Field(
        5,
        ge=1,
        description="Failed logins a device (the cookie of an earlier login of that "
        "user) may make within AGRI_LOGIN_WINDOW_S before each further attempt waits "
        "2, 4, 8 ... s (429 with Retry-After, up to AGRI_LOGIN_DELAY_CAP_S).",
    )
    login_free_failures_per_address: int = Field(
        20,
        ge=1,
        description="The same for a client address without a device cookie (any "
        "username; many people may share one address).",
    )
    login_free_failures_per_user: int = Field(
        20,
        ge=1,
        description="Failed logins on one username from clients without its device "
        "cookie (any address) before their attempts are delayed; the user's own "
        "devices are never delayed by them.",
    )
    login_delay_cap_s: int = Field(
        300, ge=1, description="The longest delay between login attempts, seconds."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Addresses of the reverse proxies whose X-Forwarded-For names the "
        "client (comma-separated, or * behind a trusted load balancer only); the login "
        "rate limit counts per client address.",
    )
    login_window_s: int = Field(
        900, ge=1, description="The login rate-limit window, in seconds."
    )
    # --- end of the HTTP limits ---
    # --- Records for the pages: kept photos, NDVI time series (issue 11) ---
    photo_dir: Path | None = Field(
        None,
        description="Folder of the kept photos (claim evidence, enrolment), "
        "content-addressed by SHA-256. Default: photos/ in AGRI_DATA_DIR.",
    )
    ndvi_stack: Path | None = Field(
        None,
        description="A multi-date NDVI GeoTIFF (one band per date) for the NDVI "
        "series of crop claims; unset: the series is the assessment's two dates.",
    )
    ndvi_clouds: Path | None = Field(
        None,
        description="The cloud mask stack on the NDVI stack's grid (1 = cloud).",
    )
    ndvi_dates: Path | None = Field(
        None,
        description="JSON list of the NDVI stack's band dates (ISO); default: the "
        "stack's band descriptions.",
    )
    ndvi_scale: float = Field(
        1.0, gt=0, description="NDVI = the stack's stored value x this scale."
    )
    # --- end of the records for the pages ---

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.environment == "production":
            missing = [
                name
                for name, value in (
                    ("AGRI_LEDGER_KEY_FILE", self.ledger_key_file),
                    ("AGRI_DATABASE_URL", self.database_url),
                )
                if value is None
            ]
            if self.anchor_enabled:
                missing += [
                    name
                    for name, value in (
                        ("AGRI_CHAIN_RPC_URL", self.chain_rpc_url),
                        ("AGRI_CHAIN_ID", self.chain_id),
                        ("AGRI_CHAIN_KEY_FILE", self.chain_key_file),
                        ("AGRI_CHAIN_CONTRACT", self.chain_contract),
                    )
                    if value is None
                ]
            if missing:
                raise ValueError(
                    "production requires " + ", ".join(missing) + " to be set"
                )
        return self

    def resolved_photo_dir(self) -> Path:
        """The kept photos' folder."""
        return self.photo_dir or self.data_dir / "photos"

    def resolved_imagery_dir(self) -> Path:
        """The scene catalogue folder."""
        return self.imagery_dir or self.data_dir / "imagery"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'agri.db'}"

"""The registry's configuration: one pydantic Settings, read from REGISTRY_* variables.

Like the site's Settings, every field says what it is for and what values are safe; a value that
would quietly weaken a decision (a duplicate threshold looser than FMR 1%, a signed request valid
for hours) is refused at start rather than discovered in a merged record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from httpkit.tls import TlsSettings
from registry.db import POSTGRES_SCHEMES, SQLITE_SCHEME
from registry.vault import RegistryKeySettings


class RegistrySettings(BaseSettings):
    """Everything the central registry reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="REGISTRY_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = Field(
        "sqlite:///var/registry.db",
        description="postgresql://user@host:5432/name (libpq form) for a real network of sites;"
        " the default, an SQLite file, is for a one-machine demo only.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP service listens on.")
    port: int = Field(8090, ge=1, le=65535, description="Port the HTTP service listens on.")
    tls: TlsSettings = Field(default_factory=TlsSettings)
    key: RegistryKeySettings = Field(default_factory=RegistryKeySettings)
    tls_dir: Path = Field(
        Path("var/registry-tls"),
        description="Where `gerbang tls init --out` put the registry's certificate; used when"
        " REGISTRY_TLS__CERT_FILE is unset and the files exist.",
    )
    pack: str = Field(
        "open-yunet-dlib",
        min_length=1,
        description="Model pack whose templates make up the national gallery; others are stored, not searched.",
    )
    identify_fmr: float = Field(
        1e-3,
        gt=0,
        le=1e-2,
        description="Per-comparison false-match rate at which a national search opens a duplicate case.",
    )
    duplicate_fpir: float | None = Field(
        1e-3,
        gt=0,
        lt=0.5,
        description="Target FPIR of the national duplicate search: the share of enrolments of a"
        " new person that open a false case, for the people in the national gallery at that moment"
        " (None: the per-comparison identify_fmr).",
    )
    finger_duplicate_fpir: float | None = Field(
        1e-3,
        gt=0,
        le=1e-2,
        description="Target FPIR of the national duplicate search by fingers: the share of finger"
        " records of a new person that open a false case, over the templates searched (stricter"
        " than a site's finger searches, 1e-2 at most; None: no search by fingers, no finger index).",
    )
    finger_extractor: Literal["nbis", "leader"] = Field(
        "leader",
        description="The minutiae extractor the sites' finger records are made by (every site's"
        " EDGE_MATCH__FINGER_EXTRACTOR): it names the shipped calibration and fitted tail the"
        " national search by fingers decides with, and makes the records of the fingerprint"
        " images /pusat adds national bans from.",
    )
    finger_min_people: int = Field(
        200,
        ge=2,
        le=100_000,
        description="People holding national finger records (merged and erased ones and those in"
        " an undecided duplicate case aside) before the search by fingers reads its thresholds off"
        " an impostor tail fitted on the national fingers themselves (the shipped FVC tail until"
        " then); refitted in the background as the records grow by 10%. 100,000 at most: a fit"
        " samples about 2,000 fingers whatever the minimum, so a higher one would only keep the"
        " shipped tail longer.",
    )
    finger_calibration_file: Path | None = Field(
        None,
        description="Calibration JSON of the MCC finger matcher; default: the one shipped with Gerbang.",
    )
    open_set_min_people: int = Field(
        1_000,
        ge=2,
        le=10_000_000,
        description="People in the national gallery before it calibrates on itself (the pack's FMR points until then).",
    )
    calibration_file: Path | None = Field(
        None, description="Calibration JSON for the pack; default: the one shipped with Gerbang."
    )
    national_exact_limit: int = Field(
        1_000_000,
        ge=1,
        le=1_000_000_000,
        description="Above this many templates the national search takes candidates from an IVF"
        " index (held-out recall@10 >= 0.99, else exact) and checks them against the exact gallery.",
    )
    max_batch_bytes: int = Field(
        32 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        description="Largest compressed batch accepted from a site.",
    )
    max_plain_bytes: int = Field(
        64 * 1024 * 1024,
        ge=4096,
        le=512 * 1024 * 1024,
        description="Largest batch once decompressed (a gzip bomb stops here).",
    )
    clock_skew_seconds: int = Field(
        300,
        ge=30,
        le=900,
        description="How far a site's signed pull timestamp may be from the registry's clock.",
    )
    key_grace_seconds: int = Field(
        3600,
        ge=0,
        le=7 * 24 * 3600,
        description="How long a site key retired by a rotation is still accepted (a batch signed"
        " just before the switch, a site that crashed before switching). A revoked key never is.",
    )
    silent_after_hours: int = Field(
        24,
        ge=1,
        le=24 * 7,
        description="A site not heard from for this long stands out in reports.",
    )
    max_json_bytes: int = Field(
        2 * 1024 * 1024,
        ge=16 * 1024,
        le=64 * 1024 * 1024,
        description="Largest request body other than a sync batch (JSON); refused with 413 unread.",
    )
    feed_poll_seconds: float = Field(
        1.0,
        ge=0.05,
        le=60,
        description="How often this registry process reads the gallery feed for what other"
        " replicas on the same database committed (registry/gallery_feed.py).",
    )
    pull_limit: int = Field(
        500, ge=1, le=5000, description="Most changes a site may pull in one request."
    )
    agency: str = Field(
        "DITJENPAS",
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The registry's originating agency code (1.008 ORI) in the exchange files it writes.",
    )
    model_dir: Path = Field(
        Path("var/models"),
        description="Folder with the pinned face model files (the site's EDGE_MODEL_DIR layout);"
        " read by `registry exchange import` (received faces searched nationally) and by /pusat"
        " adding a national ban from photos (loaded on first use).",
    )
    model_cache_dir: Path = Field(
        Path("var/registry-model-cache"),
        description="Writable folder for models the registry converts (the dlib recogniser, and"
        " LEADER for /pusat's fingerprint images).",
    )
    audit_key_file: Path = Field(
        Path("var/registry-audit.key"),
        description="Ed25519 key signing the audit chain's checkpoints (created 0600 if missing).",
    )
    audit_checkpoint_minutes: int = Field(
        60, ge=1, le=24 * 60, description="How often the service signs an audit checkpoint."
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith((*POSTGRES_SCHEMES, SQLITE_SCHEME)):
            raise ValueError("database_url must be a postgresql:// or sqlite:/// URL")
        return value

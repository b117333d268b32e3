"""The site service's configuration: one pydantic Settings, read from EDGE_* variables.

Nested groups use `__` (EDGE_IMAGES__MAX_BYTES=...). Every field says what it is for and what
values are safe; a value that would quietly weaken a decision (a target FMR above 1%, a liveness
threshold of 0) is refused at start rather than discovered at the gate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.work import WorkSettings
from enrollment.site_identity import check_site
from httpkit.tls import TlsSettings
from kernel.network import is_loopback


class ImageSettings(BaseModel):
    """What an uploaded or captured image may weigh."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024, description="Largest upload in bytes."
    )
    max_pixels: int = Field(
        40_000_000,
        ge=10_000,
        le=200_000_000,
        description="Largest image in pixels (width x height); checked before decoding.",
    )
    min_side: int = Field(
        32, ge=16, le=1024, description="Smallest image side in pixels that can hold a usable face."
    )


class DetectionSettings(BaseModel):
    """How faces are found and which one is the subject."""

    model_config = ConfigDict(extra="forbid")

    max_side: int = Field(
        640, ge=160, le=1920, description="Images are shrunk to this longest side before detection."
    )
    min_side: int = Field(
        320,
        ge=64,
        le=1280,
        description="Images are enlarged to this longest side before detection.",
    )
    retry_border: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Border added per side (fraction) on a second pass when no face is found; 0 disables it.",
    )
    subject: Literal["largest", "central", "single"] = Field(
        "largest",
        description="Which face is the subject: the largest, the most central, or refuse a second face of similar size.",
    )


class MatchSettings(BaseModel):
    """Decision targets; thresholds come from the pack's calibration file, never set by hand."""

    model_config = ConfigDict(extra="forbid")

    verify_fmr: float = Field(
        1e-3, gt=0, le=1e-2, description="Target false-match rate for 1:1 verification."
    )
    identify_fmr: float = Field(
        1e-3,
        gt=0,
        le=1e-2,
        description=(
            "Per-comparison false-match rate for 1:N search and duplicate checks. The rate of false"
            " candidates per search grows with the people searched: about this times their number."
        ),
    )
    # 1:N decisions by target FPIR: the share of searches by someone not enrolled that return any
    # candidate, for the people searched at that moment (models/openset.py, gallery_sync/openset.py)
    gate_inmate_fpir: float = Field(
        0.01, gt=0, lt=0.5, description="Target FPIR of the gate's inmate ALARM (any passage)."
    )
    banned_visitor_fpir: float = Field(
        0.01, gt=0, lt=0.5, description="Target FPIR of the banned-visitor check at the gate."
    )
    visitor_exit_fpir: float = Field(
        0.01, gt=0, lt=0.5, description="Target FPIR of the exit match among visitors inside."
    )
    staff_fpir: float = Field(
        0.01, gt=0, lt=0.5, description="Target FPIR of staff 1:N at the gate."
    )
    identify_fpir: float = Field(
        0.01, gt=0, lt=0.5, description="Target FPIR of the desk's 1:N identify (/v1/identify)."
    )
    desk_duplicate_fpir: float = Field(
        0.05,
        gt=0,
        lt=0.5,
        description="Target FPIR of the desk's duplicate check (investigation: an officer reviews).",
    )
    open_set_min_people: int = Field(
        100,
        ge=2,
        le=10_000_000,
        description="People enrolled before the site calibrates on its own gallery (the pack's shipped calibration until then).",
    )

    open_set_fallback: Literal["shipped", "fmr-points"] = Field(
        "shipped",
        description=(
            "Calibration while the site has too few people: the pack's shipped open-set file (the"
            " strictest population measured, East-Asian faces) or its per-capture FMR points"
            " (the dev set, mostly Western faces: far looser on East-Asian faces)."
        ),
    )

    cohort_size: int = Field(
        1000,
        ge=0,
        le=20_000,
        description=(
            "Cohort score normalisation (S-norm) of 1:N scores against up to this many of the"
            " site's own enrolled people, drawn at each calibration; 0 keeps raw cosines. Only"
            " with the site's own calibration (from open_set_min_people people). On by default:"
            " measured on Western and East-Asian faces, it misses fewer enrolled people than raw"
            " cosines and, with the thresholds' 95% bound, holds the target FPIR (README,"
            " open-set figures). The visitor-exit look-alike rule is withheld under it (its"
            " margins are cosines)."
        ),
    )
    cohort_k: int = Field(
        10,
        ge=1,
        le=100,
        description="S-norm statistics: the mean of the k best scores against the cohort.",
    )

    finger_fpir: float = Field(
        0.01,
        gt=0,
        lt=0.5,
        description=(
            "Target false-positive identification rate of a fingerprint 1:N search: the share of"
            " searches by someone not enrolled that name anyone. The threshold grows with the"
            " fingers searched."
        ),
    )

    finger_site_min_people: int = Field(
        100,
        ge=2,
        le=1_000_000,
        description=(
            "People with fingers enrolled before the finger's 1:N thresholds come from the"
            " site's own fingers (their impostor scores against each other); the shipped tail"
            " (FVC sets) until then. An operator's tail file in the data folder always wins."
        ),
    )

    finger_extractor: Literal["nbis", "leader"] = Field(
        "leader",
        description=(
            "Which minutiae extractor makes the fingerprint templates: the LEADER network"
            " (pyfing's weights, converted to ONNX on first start; about 0.5 s of CPU a print)"
            " or NBIS MINDTCT (30 ms; MCC's EER about four times LEADER's on FVC). Thresholds"
            " and fusion are calibrated per extractor; after a change, `gerbang finger"
            " reextract` makes the stored templates again from their images."
        ),
    )

    def fpir_targets(self) -> dict[str, float]:
        """Target FPIR per 1:N decision kind."""
        return {
            "gate_inmate": self.gate_inmate_fpir,
            "banned_visitor": self.banned_visitor_fpir,
            "visitor_exit": self.visitor_exit_fpir,
            "staff": self.staff_fpir,
            "identify": self.identify_fpir,
            "desk_duplicate": self.desk_duplicate_fpir,
        }


class GateSettings(BaseModel):
    """Which gate passages must present a finger besides the face (issue 12)."""

    model_config = ConfigDict(extra="forbid")

    require_finger_visitor_exit: bool = Field(
        False,
        description=(
            "A visitor leaving must present a finger: they must match a visitor inside by face"
            " and by finger, and no inmate by either. Without a finger: a recorded denial."
        ),
    )
    require_finger_staff: bool = Field(
        False, description="Staff in and out must present a finger (fused with the face)."
    )
    require_finger_movement: bool = Field(
        False,
        description="Inmate releases, transfers and court movements must present a finger.",
    )

    def finger_required(self) -> frozenset[str]:
        """The passage groups that must present a finger (edge/gate/passage.py GatePolicy)."""
        chosen = (
            ("visitor_exit", self.require_finger_visitor_exit),
            ("staff", self.require_finger_staff),
            ("movement", self.require_finger_movement),
        )
        return frozenset(name for name, required in chosen if required)


class EnrolmentSettings(BaseModel):
    """What an enrolment needs."""

    model_config = ConfigDict(extra="forbid")

    keep_best: int = Field(5, ge=1, le=20, description="Best accepted captures kept per session.")
    min_captures: int = Field(
        3, ge=1, le=20, description="Accepted captures needed before a commit."
    )
    require_liveness: bool = Field(
        True, description="Refuse captures whose live score is below the threshold."
    )


class SyncSettings(BaseModel):
    """The site agent inside the service; without a registry URL the service does not sync."""

    model_config = ConfigDict(extra="forbid")

    registry_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The central registry's base URL; when set, the service runs the site agent."
        " https, except to a loopback address.",
    )
    registry_ca_file: Path | None = Field(
        None,
        description="The CA certificate (PEM) the registry's certificate must chain to; default:"
        " the system's trust store.",
    )

    @field_validator("registry_url")
    @classmethod
    def _no_plain_http_across_a_network(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("http://"):
            host = urlsplit(value).hostname or ""
            if not is_loopback(host):
                raise ValueError("plain http is only allowed to a loopback registry; use https")
        return value

    poll_seconds: float = Field(
        30.0, ge=0.2, le=3600, description="Seconds between sync rounds once both ways are drained."
    )
    batch_size: int = Field(500, ge=1, le=1000, description="Outbox changes per pushed batch.")
    max_batch_bytes: int = Field(
        16 * 1024 * 1024,
        ge=64 * 1024,
        le=32 * 1024 * 1024,
        description="Most bytes of JSON per pushed batch (a photo sent on request is up to about"
        " 11 MiB; a larger single change still goes, alone). Keep it under the registry's"
        " REGISTRY_MAX_BATCH_BYTES.",
    )
    max_backoff_seconds: float = Field(
        300.0,
        ge=1.0,
        le=3600,
        description="Longest wait between retries while the registry cannot be reached.",
    )
    search_timeout_seconds: float = Field(
        3.0,
        ge=0.2,
        le=30.0,
        description="How long the enrolment desk's duplicate check waits for the national"
        " registry's answer before saving on the local check alone (per connect/read).",
    )


class BackupSettings(BaseModel):
    """How `gerbang backup` seals its file; the key is kept apart from the backups."""

    model_config = ConfigDict(extra="forbid")

    key_file: Path | None = Field(
        None,
        description="A file of 32 random bytes (or their base64) that seals backups (AES-256-GCM);"
        " keep a copy off the site machine, apart from the backups. Without it, `gerbang backup`"
        " needs --passphrase-stdin.",
    )


class KeySettings(BaseModel):
    """The key-encryption key (KEK) that unlocks the biometric data at rest.

    Neither set and no systemd credential (`$CREDENTIALS_DIRECTORY/gerbang-kek` or
    `gerbang-passphrase`): a development key file is created beside the database, and /ready
    warns that a stolen disk would then hold the key with the data.
    """

    model_config = ConfigDict(extra="forbid")

    passphrase_file: Path | None = Field(
        None, description="A file holding the passphrase (12+ characters; scrypt-derived KEK)."
    )
    kek_file: Path | None = Field(
        None,
        description="A 32-byte key file (raw or base64) on separate media, e.g. a USB key.",
    )


class ReaderSettings(BaseModel):
    """One fingerprint reader attached to this machine, by the name pages call it with."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The reader's name at this site (desk-1, gate-main): pages call it by this.",
    )
    driver: str | None = Field(
        None,
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9_]+$",
        description=(
            "libfprint driver id (uru4000, virtual_image...); none: the first image reader found;"
            " `folder`: images from `folder` in turn (demos, training)."
        ),
    )
    folder: Path | None = Field(None, description="With driver `folder`: where the images are.")
    gate: str | None = Field(
        None,
        max_length=40,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The gate whose kiosk (device key) may use it; officers may use every reader.",
    )
    resolution_ppi: int = Field(
        500, ge=250, le=1000, description="Resolution assumed when the reader does not say."
    )
    max_wait_s: float = Field(
        20.0, ge=1.0, le=60.0, description="Longest a capture waits for a finger."
    )


class Settings(BaseSettings):
    """Everything the site service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="EDGE_", env_nested_delimiter="__", extra="forbid")

    model_dir: Path = Field(
        Path("var/models"), description="Folder with the pinned model files (may be read-only)."
    )
    data_dir: Path = Field(
        Path("var"),
        description="Writable folder for the database, converted models and enrolment images.",
    )
    pack: str = Field(
        "open-yunet-dlib", min_length=1, description="Model pack id (see `gerbang models list`)."
    )
    fetch_models: bool = Field(
        True,
        description="At start, download the pack's files missing from model_dir from their pinned"
        " addresses (each checked against its sha256) in the background; false for a site that must"
        " never reach out (then /ready says which file to place where).",
    )
    providers: list[str] = Field(
        default_factory=lambda: [
            "CUDAExecutionProvider",
            "OpenVINOExecutionProvider",
            "CPUExecutionProvider",
        ],
        description="Execution providers in order of preference; those not installed are skipped.",
    )
    threads: int | None = Field(
        None, ge=1, le=64, description="onnxruntime intra-op threads; default: physical cores."
    )
    liveness: bool = Field(True, description="Run passive liveness on every face analysed.")
    liveness_threshold: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="Live score below which a face is treated as a presentation attack; default 0.5, chosen on the dev photos (bench/liveness_dev.py: BPCER 2.9% on colour portraits).",
    )
    site_id: str = Field(
        "UPT-DEV",
        min_length=2,
        max_length=40,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="This site's code (UPT), stamped on every record and sync batch.",
    )
    host: str = Field("127.0.0.1", description="Address the HTTP service listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port the HTTP service listens on.")
    max_json_bytes: int = Field(
        1024 * 1024,
        ge=16 * 1024,
        le=64 * 1024 * 1024,
        description="Largest request body that is not an upload (JSON); refused with 413 unread.",
    )
    gallery_follow_seconds: float = Field(
        2.0,
        gt=0,
        le=600,
        description="How often the service applies other processes' writes (gerbang import, a"
        " sync agent run on its own) to its in-memory face gallery.",
    )
    images: ImageSettings = Field(default_factory=ImageSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    match: MatchSettings = Field(default_factory=MatchSettings)
    enrolment: EnrolmentSettings = Field(default_factory=EnrolmentSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    key: KeySettings = Field(default_factory=KeySettings)
    readers: list[ReaderSettings] = Field(
        default_factory=list,
        max_length=16,
        description='Fingerprint readers of this machine, as JSON: [{"name": "desk-1"}, ...].',
    )
    work: WorkSettings = Field(default_factory=WorkSettings)

    @field_validator("providers")
    @classmethod
    def _providers_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one execution provider is needed")
        return value

    @field_validator("readers")
    @classmethod
    def _readers_named_once(cls, value: list[ReaderSettings]) -> list[ReaderSettings]:
        names = [reader.name for reader in value]
        if len(set(names)) != len(names):
            raise ValueError(f"reader names must be unique: {names}")
        for reader in value:
            if (reader.driver == "folder") != (reader.folder is not None):
                raise ValueError(f"reader {reader.name}: a folder goes with driver `folder` only")
        return value

    @property
    def database_path(self) -> Path:
        """The site's SQLite file."""
        return self.data_dir / "gerbang.db"

    @property
    def tls_dir(self) -> Path:
        """Where `gerbang tls init` writes the site CA and the server certificate."""
        return self.data_dir / "tls"

    @property
    def upload_bytes(self) -> int:
        """Largest upload request: two images (a comparison, a face with a finger) and the form."""
        return 2 * self.images.max_bytes + 1024 * 1024

    @property
    def cache_dir(self) -> Path:
        """Where converted models are written."""
        return self.data_dir / "model-cache"


def site_settings() -> Settings:
    """Settings from the environment for a console command on this site's data, refused
    (`site_id_mismatch`) when EDGE_DATA_DIR's database belongs to another site than EDGE_SITE_ID:
    a shell without the service's settings must not act as the default UPT-DEV on UPT-A's data."""
    settings = Settings()
    check_site(settings.database_path, settings.site_id)
    return settings

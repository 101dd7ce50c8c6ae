"""The configuration model. `extra="forbid"` everywhere: a misspelt key is an error naming its path."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from limits import parse as parse_rate
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from service.aggregation import AggregationParams, Scale
from service.alerts.params import AlertParams
from service.inference import default_providers
from service.inference.backends import Backend
from service.inference.providers import GpuOptions
from service.inference.triton import TritonConfig
from service.model_card import default_models_root
from service.model_card import installed_models_root as installed_models_root
from service.paths import ConfigPath, user_cache_dir
from service.sources.config import CaptureConfig, SourceConfig
from service.vision.detectors import DETECTORS
from service.ward.settings import NodeConfig

ENV_PREFIX = "PAINWATCH_"
DEFAULT_MODEL = Path("demo-synthetic/1")
"""The default model.path, relative to model.root."""


def default_data_dir() -> Path:
    return user_cache_dir()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DetectorConfig(_Strict):
    name: str = Field(default="mediapipe-short", description=f"Face detector: one of {', '.join(DETECTORS)}.")
    min_score: float = Field(default=0.5, ge=0.0, le=1.0, description="Detections below this confidence are ignored.")

    @field_validator("name")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        if name not in DETECTORS:
            raise ValueError(f"unknown face detector {name!r}; choose one of: {', '.join(DETECTORS)}")
        return name


class BedConfig(_Strict):
    id: str = Field(
        pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Bed identifier used in URLs (letters, digits, - and _)."
    )
    label: str = Field(default="", description="Human-readable bed name for dashboards (no patient data).")
    scale: Scale = Field(description="Clinical scale of the bed: DAN for newborns, FLACC for 2-36 months.")
    source: SourceConfig = Field(description="Where the bed's frames come from (type: video | camera | realsense).")
    capture: CaptureConfig = Field(
        default_factory=lambda: CaptureConfig(), description="No-signal detection and reopen backoff of the source."
    )
    detector: DetectorConfig = Field(default_factory=lambda: DetectorConfig(), description="Face detector of this bed.")
    analysis_rate_hz: float | None = Field(
        default=10.0,
        gt=0,
        description="At most this many frames analysed per second (newest frame first); null = as fast as possible.",
    )
    alerts: AlertParams | None = Field(
        default=None, description="This bed's alert thresholds and timers (null: the service-wide `alerts`)."
    )


class ModelConfig(_Strict):
    root: ConfigPath = Field(
        default_factory=default_models_root,
        description="Folder of exported models (<root>/<name>/<version>/). `POST /api/model/reload` loads only from "
        "here, by name and version, never an arbitrary path. Default: $PAINWATCH_MODELS_ROOT, else this "
        "installation's exported_models (the same from any working directory).",
    )
    path: Path = Field(
        default=DEFAULT_MODEL,
        description="Exported model folder (model.onnx + model_card.json) or .onnx file. Relative in a config "
        "file: to that file's folder; the default (demo-synthetic/1) and a relative PAINWATCH_MODEL__PATH: to "
        "model.root.",
    )
    backend: Backend = Field(
        default="onnxruntime",
        description="Where the model runs: onnxruntime (in this process, on model.providers) or triton (an NVIDIA "
        "Triton Inference Server at model.triton.url serving the same exported file; `painwatch models "
        "triton-repo` writes its model repository). Either way the model is checked against model.path's card, "
        "SHA-256 and reference set before it serves.",
    )
    providers: list[str] = Field(
        default_factory=default_providers,
        min_length=1,
        description="ONNX Runtime execution providers in priority order; default CUDA when available, else CPU "
        "(backend onnxruntime only).",
    )
    gpu: GpuOptions = Field(
        default_factory=lambda: GpuOptions(),
        description="Options of the CUDA and TensorRT providers (device, TensorRT fp16 and engine cache, IO binding); "
        "service/inference/providers.py documents each. Ignored on CPU.",
    )
    triton: TritonConfig = Field(
        default_factory=lambda: TritonConfig(), description="The Triton server (backend triton only)."
    )
    max_batch: int = Field(default=8, ge=1, le=256, description="Most crops (from all beds) in one inference batch.")
    max_wait_ms: float = Field(
        default=5.0, ge=0.0, le=1000.0, description="How long the first crop waits for others to fill a batch."
    )
    infer_timeout_s: float = Field(
        default=10.0, gt=0, description="A bed waiting longer than this for a result reports model_error."
    )
    intra_op_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="ONNX Runtime compute threads of the shared inference session; null = this host's physical "
        "cores (service/inference/model.py `session_options` documents the choice: no spinning, sequential).",
    )

    @property
    def requested_providers(self) -> list[str] | None:
        """model.providers when they matter (backend onnxruntime); None with Triton, which places the model itself."""
        return list(self.providers) if self.backend == "onnxruntime" else None

    @model_validator(mode="after")
    def _triton_answers_before_beds_give_up(self) -> ModelConfig:
        if self.backend == "triton" and self.triton.timeout_s > self.infer_timeout_s:
            raise ValueError(
                f"triton.timeout_s ({self.triton.timeout_s:g}) must not exceed infer_timeout_s "
                f"({self.infer_timeout_s:g}): the beds would give up on a batch Triton is still allowed to answer"
            )
        return self

    @model_validator(mode="after")
    def _path_under_root(self) -> ModelConfig:
        path = self.path.expanduser()
        self.path = path if path.is_absolute() else self.root / path
        return self


class StreamConfig(_Strict):
    heatmap_hz: float = Field(
        default=2.0, ge=0.0, description="Grad-CAM JPEGs per second per bed after the JSON message (0 = never)."
    )
    jpeg_quality: int = Field(default=80, ge=10, le=100, description="JPEG quality of the Grad-CAM images.")
    client_queue: int = Field(
        default=8, ge=1, le=1024, description="Messages buffered per WebSocket client; beyond it the oldest is dropped."
    )
    send_timeout_s: float = Field(
        default=5.0, gt=0, description="A client that accepts nothing for this long is closed (stuck client)."
    )
    summary_hz: float = Field(default=2.0, gt=0, le=2.0, description="Rate of the all-beds summary on /ws/beds.")
    stale_after_s: float = Field(
        default=3.0, gt=0, description="REST/summary values older than this are reported as stale (null)."
    )


class ServerConfig(_Strict):
    host: str = Field(default="127.0.0.1", description="Address to bind the HTTP/WebSocket server to.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0 = any free port).")
    client_send_buffer_bytes: int = Field(
        default=262_144,
        ge=4096,
        description="Kernel send buffer per connection. Bounded (no autotuning to MBs) so a client that stops "
        "reading backs up within seconds: its frames are then dropped and, if it stays stuck, it is closed.",
    )
    shutdown_timeout_s: float = Field(
        default=3.0,
        gt=0,
        le=30.0,
        description="On SIGTERM, after connections get a third of it to close: the beds stop, open episodes' "
        "snapshots are written, and the store queue is drained within this long; then the process exits 0 "
        "(clinical records still unwritten go to the dead-letter file).",
    )
    tls_certfile: ConfigPath | None = Field(
        default=None, description="PEM certificate chain: the service speaks HTTPS/WSS itself (with tls_keyfile)."
    )
    tls_keyfile: ConfigPath | None = Field(default=None, description="PEM private key of tls_certfile.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the "
        "client address then comes from the header, for login limits and the audit log). Empty: never believed.",
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="Largest request body accepted; bigger ones get 413 unread."
    )
    behind_tls_proxy: bool = Field(
        default=False,
        description="A TLS-terminating reverse proxy sits in front: allows a non-loopback host without tls_* "
        "(session cookies are then marked Secure).",
    )

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> ServerConfig:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> ServerConfig:
        if not is_loopback(self.host) and not self.tls and not self.behind_tls_proxy:
            raise ValueError(
                f"refusing to serve on non-loopback address {self.host!r} without TLS: infant video and alerts "
                "would cross the network in clear text. Set server.tls_certfile and server.tls_keyfile, or "
                "server.behind_tls_proxy: true when a TLS proxy terminates the connections, or bind 127.0.0.1"
            )
        return self


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`; anything else (0.0.0.0, '', a name) can be reached from the network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AuthConfig(_Strict):
    session_hours: float = Field(
        default=12.0, gt=0, le=24 * 30, description="A login token (and its cookie) expires after this many hours."
    )
    session_idle_minutes: float = Field(
        default=120.0,
        gt=0,
        le=24 * 60 * 30,
        description="A session also ends after this many minutes without a request or an open WebSocket. An open "
        "dashboard streams all night and so stays logged in (up to session_hours); 120: a station whose dashboard "
        "was closed, or a token that was left behind, stops working after two quiet hours.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus presents to scrape /metrics (set it through the environment: "
        "PAINWATCH_AUTH__METRICS_TOKEN). Without it only logged-in engineers and admins read /metrics: its labels "
        "name beds and models.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed logins per account (in login_window_s) before each further try waits a growing delay "
        "(1 s, 2 s, 4 s ...; never a lock-out an attacker could use to keep a nurse out).",
    )
    login_window_s: float = Field(default=900.0, gt=0, description="The window in which failed logins are counted.")
    login_max_delay_s: float = Field(default=30.0, gt=0, description="Longest delay of a login after failures.")
    login_rate_per_address: str = Field(
        default="20/minute",
        description="Login attempts per client address (a `limits` rate, e.g. '20/minute'); beyond it 429 at once, "
        "before any password hash is computed.",
    )
    login_rate_global: str = Field(
        default="60/minute", description="Login attempts for the whole service (same format); beyond it 429 at once."
    )
    login_queue: int = Field(
        default=4,
        ge=1,
        description="Logins waiting for the password-hash thread (one thread, never the API's pool); beyond it 429.",
    )

    @field_validator("login_rate_per_address", "login_rate_global")
    @classmethod
    def _a_rate(cls, rate: str) -> str:
        try:
            parse_rate(rate)
        except ValueError as exc:
            raise ValueError(f"{rate!r} is not a rate like '20/minute' or '5 per second'") from exc
        return rate


class StoreConfig(_Strict):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy database URL, e.g. postgresql+psycopg://user:pw@host/db (env PAINWATCH_STORE__URL); "
        "null: a SQLite file (WAL) painwatch.db in data_dir.",
    )
    trend_hz: float = Field(default=1.0, gt=0, le=10, description="Score-trend points stored per bed per second.")
    trend_retention_hours: float = Field(
        default=72.0, gt=0, description="Score-trend points older than this are purged (alerts are kept)."
    )
    purge_interval_s: float = Field(
        default=600.0, gt=0, description="How often retention runs (trend, snapshots, notes); it also runs at start."
    )
    note_retention_days: float = Field(
        default=365.0,
        gt=0,
        description="Nurses' free-text notes on alerts closed longer ago than this are removed (the verdict and the "
        "alert are kept).",
    )
    queue_size: int = Field(
        default=10_000,
        ge=10,
        description="Score-trend points waiting for the database; beyond it the oldest are shed (counted). Clinical "
        "records (alert events, audit rows, snapshots) are never shed.",
    )
    retry_attempts: int = Field(
        default=5, ge=1, description="Tries of a record the database refuses before it goes to the dead-letter file."
    )
    retry_backoff_max_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest wait between write retries, also while the database is unreachable (so its return "
        "is seen within this long).",
    )


class SnapshotConfig(_Strict):
    enabled: bool = Field(
        default=True,
        description="Store a review snapshot (face crop, Grad-CAM, score trace) at each pain episode's peak; "
        "false: nothing is stored and the snapshot routes answer 404.",
    )
    retention_days: float = Field(
        default=30.0, gt=0, description="Snapshots (rows and files) older than this are purged (alerts are kept)."
    )
    provisional_every_s: float = Field(
        default=10.0,
        gt=0,
        description="While an episode is open its best snapshot so far is rewritten at most this "
        "often, so a crash loses little.",
    )
    around_peak_s: float = Field(
        default=10.0, gt=0, le=120, description="Frame probabilities kept this long before and after the peak."
    )
    jpeg_quality: int = Field(default=90, ge=10, le=100, description="JPEG quality of the crop and Grad-CAM images.")
    key_file: Path | None = Field(
        default=None,
        description="File of Fernet keys, one per line (`painwatch data snapshot-key FILE` makes one): snapshot "
        "images are then encrypted at rest with the first key; every key decrypts (rotation: see "
        "service/alerts/snapshots/sealing.py). The environment variable PAINWATCH_SNAPSHOT_KEYS overrides it. "
        "Null: images are stored unencrypted (in a 0700 data folder).",
    )
    group_ids: dict[str, str] = Field(
        default_factory=dict,
        description="Pseudonymous infant group id per bed id (never a name or record number): feedback crops of "
        "one infant stay in one cross-validation group. A bed not listed uses `bed-<bed id>`.",
    )


class SupervisionConfig(_Strict):
    check_interval_s: float = Field(default=0.5, gt=0, le=10, description="How often every thread's health is checked.")
    stall_after_s: float = Field(
        default=20.0,
        gt=0,
        description="A thread that makes no progress this long is stalled (restarted, alarmed): a bed worker with "
        "no loop round or no frame analysed while frames arrive, the engine with crops waiting and no batch, a "
        "capture stuck in one source call. Must exceed model.infer_timeout_s.",
    )
    initial_backoff_s: float = Field(default=1.0, gt=0, description="Wait before the second restart of a component.")
    max_backoff_s: float = Field(
        default=30.0, gt=0, description="Longest wait between restarts (the wait doubles after each failed restart)."
    )


class ServiceSettings(BaseSettings):
    """Everything `painwatch serve` needs. YAML values are overridden by PAINWATCH_* environment variables
    (nested keys with `__`, e.g. PAINWATCH_SERVER__PORT=9000)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    node: NodeConfig | None = Field(
        default=None,
        description="This process as one node of a ward sharing store.url (PostgreSQL): its id and advertised URL "
        "(docs/ward.md). Null: a single node. With no beds the node is a view-only ward station.",
    )
    beds: list[BedConfig] = Field(
        description="The monitored beds (at least one, unless `node` is set: a ward view with no beds of its own)."
    )
    model: ModelConfig = Field(default_factory=lambda: ModelConfig(), description="The pain model and inference.")
    aggregation: AggregationParams = Field(
        default_factory=lambda: AggregationParams(), description="Smoothing, observation window and scale rules."
    )
    stream: StreamConfig = Field(default_factory=lambda: StreamConfig(), description="WebSocket output.")
    server: ServerConfig = Field(default_factory=lambda: ServerConfig(), description="Bind address and shutdown.")
    alerts: AlertParams = Field(
        default_factory=lambda: AlertParams(), description="Alert thresholds and timers (beds may override)."
    )
    store: StoreConfig = Field(default_factory=lambda: StoreConfig(), description="Database and trend retention.")
    snapshots: SnapshotConfig = Field(
        default_factory=lambda: SnapshotConfig(), description="Review snapshots at pain-episode peaks."
    )
    auth: AuthConfig = Field(
        default_factory=lambda: AuthConfig(), description="Logins, sessions and what needs no login."
    )
    supervision: SupervisionConfig = Field(
        default_factory=lambda: SupervisionConfig(), description="Thread supervision: stalls, restarts, backoff."
    )
    data_dir: ConfigPath = Field(
        default_factory=default_data_dir,
        description="Data folder (0700, owned by the service's user): the generated synthetic demo video, the "
        "default SQLite database, review snapshots and the dead-letter file live here. Env PAINWATCH_DATA_DIR.",
    )

    @field_validator("beds")
    @classmethod
    def _beds_or_ward_view(cls, beds: list[BedConfig], info: ValidationInfo) -> list[BedConfig]:
        if not beds and info.data.get("node") is None:
            raise ValueError("give at least one bed (or set node: {id, advertise_url} for a view-only ward node)")
        return beds

    @model_validator(mode="after")
    def _node_needs_postgres(self) -> ServiceSettings:
        url = self.store.url or ""
        if self.node is not None and not url.startswith("postgresql"):
            raise ValueError(
                "node: a ward of several nodes shares one PostgreSQL database; set store.url to "
                "postgresql+psycopg://user:password@host/db on every node (or remove node: for a single node)"
            )
        return self

    @model_validator(mode="after")
    def _unique_bed_ids(self) -> ServiceSettings:
        ids = [bed.id for bed in self.beds]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"bed ids must be unique; repeated: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _stall_beyond_inference_timeout(self) -> ServiceSettings:
        if self.supervision.stall_after_s <= self.model.infer_timeout_s:
            raise ValueError(
                f"supervision.stall_after_s ({self.supervision.stall_after_s:g}) must exceed model.infer_timeout_s "
                f"({self.model.infer_timeout_s:g}): a worker waiting for a slow result is not stalled"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML arrives as init values; environment variables come first so they override it.
        return env_settings, init_settings

    def bed(self, bed_id: str) -> BedConfig | None:
        return next((b for b in self.beds if b.id == bed_id), None)

    def alert_params(self, bed: BedConfig) -> AlertParams:
        return bed.alerts if bed.alerts is not None else self.alerts


def settings_from_dict(data: dict[str, Any]) -> ServiceSettings:
    return ServiceSettings(**data)

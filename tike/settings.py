"""Configuration: one pydantic-settings class per service, all with the env prefix ``TIKE_``.

The README's settings table is generated from these classes (``tike settings --markdown``)
and a test fails when the two drift apart.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "changethis", "secret", "dev-secret"})
DEV_SECRET = "dev-secret"
#: Least entropy of a production secret, in bits (32 random bytes).
MIN_SECRET_BITS = 256
GENERATE_SECRET = (
    "generate one with `openssl rand -hex 32` or "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


def secret_bits(secret: str) -> float:
    """A conservative estimate of a secret's entropy in bits.

    Length times the bits of the smallest usual alphabet that holds every character (hex,
    digits, lower or upper case, alphanumerics, base64url, printable ASCII), and no more than
    the bits its distinct characters can carry: `openssl rand -hex 32` scores 256, and so does
    `secrets.token_urlsafe(32)`; `password`, `abc` or one character repeated score far less.
    """
    if not secret:
        return 0.0
    chars = set(secret)
    alphabets = (
        (set("0123456789"), 10),
        (set("0123456789abcdef"), 16),
        (set("0123456789ABCDEF"), 16),
        (set("abcdefghijklmnopqrstuvwxyz"), 26),
        (set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 26),
        (set("0123456789abcdefghijklmnopqrstuvwxyz"), 36),
        (set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"), 62),
        (set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+/="), 66),
    )
    size = next((n for alphabet, n in alphabets if chars <= alphabet), 95)
    per_char = math.log2(size)
    # A string of few distinct characters ("abababab...") is not random, whatever its length.
    if len(chars) < min(size, 12):
        per_char = min(per_char, math.log2(max(len(chars), 2)) / 2)
    return len(secret) * per_char


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``localhost``, 127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class CommonSettings(BaseSettings):
    """Settings every Tike process reads."""

    model_config = SettingsConfigDict(env_prefix="TIKE_", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = Field(
        "dev",
        description="Deployment environment. `dev` alone accepts the placeholder secret (and "
        "only on loopback, and not in the container image unless set explicitly); `prod` "
        "also refuses secrets of less than 32 random bytes.",
    )
    container: bool = Field(
        False,
        description="Set by Tike's Dockerfile: in the image, TIKE_ENV must be set explicitly "
        "for the placeholder secret to be accepted.",
    )
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers (`host:port[,host:port]`).",
    )
    kafka_profile: Literal["kafka", "embedded"] = Field(
        "kafka",
        description="`embedded` enables the workarounds for the embedded Tansu broker "
        "(docs/embedded.md); `kafka` is Apache Kafka.",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL.")
    secret: SecretStr = Field(
        SecretStr(DEV_SECRET),
        description="Token signing secret. Required (and not a placeholder) outside `dev`.",
    )
    regions_dir: Path | None = Field(
        None, description="Extra directory of region YAML files (adds counties as data)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`json`: one JSON object per line with correlation ids (event, need, "
        "dispatch); `text`: plain lines.",
    )
    fetch_max_wait_ms: int | None = Field(
        None,
        ge=1,
        description="Kafka consumer fetch long-poll wait; empty means 1500 for `kafka`, 5 for "
        "`embedded` (Tansu does not answer a long poll early).",
    )
    fetch_idle_wait_ms: int | None = Field(
        None,
        ge=1,
        description="Fetch long-poll wait of an idle consumer (no records for 5 s), and of the "
        "gateway's board reader; empty means 1500 for `kafka`, 150 for `embedded`. Only the "
        "first hop after an idle period waits this long (docs/performance.md, idle cost).",
    )

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> CommonSettings:
        secret = self.secret.get_secret_value()
        placeholder = secret.lower() in PLACEHOLDER_SECRETS
        if placeholder and self.env != "dev":
            raise ValueError(
                f"TIKE_SECRET is a placeholder; set a real secret when TIKE_ENV={self.env}: "
                + GENERATE_SECRET
            )
        if placeholder and self.container and "env" not in self.model_fields_set:
            raise ValueError(
                "TIKE_SECRET is a placeholder and TIKE_ENV is not set in a container: set "
                "TIKE_ENV=prod and a real TIKE_SECRET (" + GENERATE_SECRET + "), or "
                "TIKE_ENV=dev explicitly for a throw-away local run"
            )
        if self.env == "prod" and (bits := secret_bits(secret)) < MIN_SECRET_BITS:
            raise ValueError(
                f"TIKE_SECRET is too weak for TIKE_ENV=prod (about {bits:.0f} bits; at least "
                f"{MIN_SECRET_BITS}, 32 random bytes, are needed): " + GENERATE_SECRET
            )
        return self

    @property
    def placeholder_secret(self) -> bool:
        return self.secret.get_secret_value().lower() in PLACEHOLDER_SECRETS

    @property
    def embedded(self) -> bool:
        return self.kafka_profile == "embedded"

    @property
    def fetch_wait_ms(self) -> int:
        if self.fetch_max_wait_ms is not None:
            return self.fetch_max_wait_ms
        return 5 if self.embedded else 1500

    @property
    def fetch_idle_wait(self) -> int:
        """The fetch wait of a consumer that has seen no records for a while (never below
        the busy wait)."""
        if self.fetch_idle_wait_ms is not None:
            return max(self.fetch_idle_wait_ms, self.fetch_wait_ms)
        return max(150 if self.embedded else 1500, self.fetch_wait_ms)


class WorkerSettings(CommonSettings):
    """The Faust stream worker (`tike worker`)."""

    app_id: str = Field("tike", description="Faust app id; also the Kafka consumer group.")
    topic_partitions: int = Field(
        8, ge=1, description="Partitions of the topics Tike creates (regions hash onto these)."
    )
    topic_replication: int = Field(1, ge=1, description="Replication factor of Tike's topics.")
    max_message_bytes: int = Field(
        65536, ge=512, description="Input records larger than this go to the dead-letter topic."
    )
    heartbeat_timeout_s: float = Field(
        900.0, gt=0, description="A safety device silent this long is reported (3 x 5 min)."
    )
    silence_check_interval_s: float = Field(
        30.0, gt=0, description="How often device silence is checked."
    )
    need_history_s: float = Field(
        86400.0,
        ge=3600,
        description="Closed needs stay in the situation state this long; a redelivered input "
        "is recognised (and dropped) for at least this long.",
    )
    commit_interval_s: float = Field(
        1.0, gt=0, description="Offset commit interval (Faust's default is 2.8 s)."
    )
    session_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Group session timeout; empty means 30 (`kafka`) or 4 (`embedded`: a "
        "killed worker's partitions move after about this, plus 3 s when it led the group, "
        "docs/performance.md).",
    )
    stream_buffer_maxsize: int = Field(
        1024, ge=16, description="Per-stream buffer before backpressure (Faust: 4096)."
    )
    producer_linger_ms: float = Field(
        1.0,
        ge=0,
        description="How long the worker's producer waits to fill a batch (aiokafka linger).",
    )
    run_dir: Path = Field(
        Path(".tike"),
        description="Directory of a stack's logs (`logs/`), its lock (`up.lock`: one running "
        "`tike up` per directory) and, unless TIKE_STATE_DIR is set, the worker state "
        "(`state/`). Give each stack run from one checkout its own.",
    )
    state_dir: Path = Field(
        None,  # type: ignore[assignment]  # filled in from run_dir by _state_under_run_dir
        description="Worker state directory; empty means `<TIKE_RUN_DIR>/state`.",
    )
    max_future_skew_s: float = Field(
        300.0,
        ge=0,
        description="An input whose `occurred_at` is more than this ahead of the worker's clock "
        "is dead-lettered (`future_time`).",
    )
    metrics_port: int = Field(
        9108, ge=0, le=65535, description="Worker Prometheus port (0 disables)."
    )
    metrics_host: str = Field("127.0.0.1", description="Worker Prometheus bind address.")
    offer_timeout_stat_s: float = Field(60, gt=0, description="Seconds to accept a `stat` offer.")
    offer_timeout_asap_s: float = Field(120, gt=0, description="Seconds to accept an `asap` offer.")
    offer_timeout_urgent_s: float = Field(
        300, gt=0, description="Seconds to accept an `urgent` offer."
    )
    offer_timeout_routine_s: float = Field(
        900, gt=0, description="Seconds to accept a `routine` offer."
    )
    tick_interval_s: float = Field(
        1.0, gt=0, description="How often offer time-outs, SLAs and KPIs are checked."
    )
    snapshot_every: int = Field(
        500, ge=1, description="Journal records between snapshots of a partition's state."
    )
    kpi_interval_s: float = Field(
        5.0, ge=0, description="Seconds between KPI recomputations (0: every tick)."
    )
    kpi_include_synthetic: bool = Field(
        True, description="Count simulator (synthetic) needs and calls in the KPIs."
    )
    watchdog_stall_s: float = Field(
        120.0, gt=0, description="An agent with input but no progress this long stops the worker."
    )
    allow_unverified_libraries: bool = Field(
        False,
        description="Start the worker on faust-streaming, mode or aiokafka versions its "
        "consumer seam was not verified with (streams/compat.py); it refuses otherwise.",
    )

    @model_validator(mode="before")
    @classmethod
    def _state_under_run_dir(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("state_dir"):
            data = {**data, "state_dir": Path(data.get("run_dir") or ".tike") / "state"}
        return data

    @property
    def offer_timeouts(self) -> dict[str, float]:
        return {
            "stat": self.offer_timeout_stat_s,
            "asap": self.offer_timeout_asap_s,
            "urgent": self.offer_timeout_urgent_s,
            "routine": self.offer_timeout_routine_s,
        }

    @property
    def session_timeout(self) -> float:
        if self.session_timeout_s is not None:
            return self.session_timeout_s
        return 4.0 if self.embedded else 30.0


class GatewaySettings(CommonSettings):
    """The HTTP/websocket gateway (`tike gateway`)."""

    gateway_host: str = Field("127.0.0.1", description="Gateway bind address.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Gateway port.")
    ui_dir: Path | None = Field(
        None, description="Directory of the web UI; empty means `ui_static/` of the checkout."
    )
    token_ttl_s: float = Field(
        8 * 3600, gt=0, description="Lifetime of tokens from `tike token` and `/api/tokens`."
    )
    gateway_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Gateway processes on the one port (`tike gateway --workers N`); each has "
        "its own fan-out, and one of them at a time projects.",
    )
    ws_compression: bool = Field(
        True,
        description="Offer permessage-deflate to websocket clients (negotiated without context "
        "takeover; each frame is compressed once for every client that takes it).",
    )
    token_max_ttl_s: float = Field(
        7 * 86400,
        gt=0,
        description="Longest token lifetime: `tike token` and `/api/tokens` refuse more, and "
        "the gateway refuses a token that says it lives longer.",
    )
    ws_max_fps: float = Field(
        10.0, gt=0, le=100, description="Most websocket frames per second to one client."
    )
    ws_queue_max: int = Field(
        2000,
        ge=10,
        description="Pending changes per client; beyond it the client gets a fresh snapshot.",
    )
    ws_send_timeout_s: float = Field(
        10.0, gt=0, description="A client that takes longer to accept a frame is closed (4408)."
    )
    ws_auth_check_s: float = Field(
        2.0,
        gt=0,
        description="How often a gateway process reloads the revoked token ids (one Redis read "
        "per process); an open socket with a revoked token closes (4401) within this time.",
    )
    redis_max_connections: int = Field(
        64,
        ge=1,
        description="Redis connections a gateway process shares among requests and websocket "
        "handshakes. The pool blocks: a caller waits for a free connection rather than failing. "
        "The projector and the fan-out readers (blocking reads) have their own connections.",
    )
    redis_pool_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Longest wait for a free Redis connection; then the request fails (503, or "
        "websocket close 1011). A gateway busy with a burst of websocket handshakes can take "
        "seconds to hand one over (5 s refused one client in 1,000 in the fan-out benchmark).",
    )
    gc_freeze: bool = Field(
        True,
        description="Move the survivors of each full garbage collection into Python's "
        "permanent generation, so that a process holding thousands of sockets does not stop "
        "for a whole-heap walk on every quarter of growth (every 20th time they are put back "
        "and freed if garbage). `tike_gc_pause_seconds` shows the pauses.",
    )
    board_stream_maxlen: int = Field(
        10000, ge=100, description="Board deltas kept in Redis for clients that resume."
    )
    team_stream_maxlen: int = Field(
        1000, ge=10, description="Dispatch updates kept in Redis per team."
    )
    projector_lease_s: float = Field(
        5.0, gt=0, description="Lease of the one gateway that projects Kafka into Redis."
    )
    projection_idle_wait_ms: int | None = Field(
        None,
        ge=1,
        description="Fetch wait of the board projection once no record came for 5 s (empty: "
        "500 ms on the embedded broker, 1500 on Kafka); while records flow it fetches with "
        "TIKE_FETCH_MAX_WAIT_MS. Longer is cheaper when idle; the first board change after a "
        "quiet spell waits up to half of it on the embedded broker.",
    )

    @property
    def projection_idle_wait(self) -> int:
        if self.projection_idle_wait_ms is not None:
            return max(self.projection_idle_wait_ms, self.fetch_wait_ms)
        return max(500 if self.embedded else 1500, self.fetch_wait_ms)

    map_tiles_url: str | None = Field(
        None,
        description="XYZ tile URL template for the board map (`.../{z}/{x}/{y}.png`); "
        "empty: the map is drawn from shipped coordinates only, with no external requests.",
    )
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Larger request bodies are refused with 413."
    )
    api_docs: bool | None = Field(
        None,
        description="Serve the OpenAPI pages (`/docs`, `/redoc`, `/openapi.json`; Swagger UI "
        "and ReDoc load their scripts from a CDN); empty means on except in `prod`.",
    )
    ws_allowed_origins: str = Field(
        "",
        description="Comma-separated origins (`https://tike.example.fi`) a browser may open "
        "websockets from; empty means the gateway's own origin only (the `Host` the browser "
        "connected to). Clients that send no `Origin` (not browsers) are not checked.",
    )
    write_rate_per_min: int = Field(
        120,
        ge=1,
        description="Writes (actions, tokens, revocations, activations) one token may make a "
        "minute, per gateway process; more get 429.",
    )
    ws_max_per_token: int = Field(
        100,
        ge=1,
        description="Open websockets one token may hold per gateway process (4429). A person "
        "needs a few; `tike loadtest`'s one token holds one per team of the region.",
    )

    @model_validator(mode="after")
    def _ttl_within_max(self) -> GatewaySettings:
        if self.token_ttl_s > self.token_max_ttl_s:
            raise ValueError("TIKE_TOKEN_TTL_S is over TIKE_TOKEN_MAX_TTL_S")
        return self

    @model_validator(mode="after")
    def _placeholder_only_on_loopback(self) -> GatewaySettings:
        if self.placeholder_secret and not is_loopback(self.gateway_host):
            raise ValueError(
                f"TIKE_SECRET is the placeholder and the gateway binds {self.gateway_host}, "
                "which others can reach: anyone could sign an admin token. Set a real "
                "TIKE_SECRET (" + GENERATE_SECRET + ") or bind 127.0.0.1"
            )
        return self


class SimulatorSettings(CommonSettings):
    """The event simulator (`tike simulate`)."""

    sim_seed: int = Field(1, description="Random seed; the same seed gives the same events.")
    sim_rate: float = Field(
        1.0, gt=0, description="Rate multiplier over the region's realistic load."
    )
    sim_region: str = Field("etela-pohjanmaa", description="Region to simulate.")
    sim_scenario: str = Field(
        "demo",
        description="Scenario: `demo` (an evening peak on a clock ten times faster, for a living "
        "board within 30 s), `normal-night`, `storm`, `flu-season`, `team-offline`, a YAML file, "
        "or `realistic`: the region's realistic rates on the real clock.",
    )


class StackSettings(WorkerSettings, GatewaySettings, SimulatorSettings):
    """The embedded stack (`tike up`): starts what is not configured elsewhere."""

    embedded_kafka_port: int = Field(
        9092, ge=1, le=65535, description="Port of the embedded broker (`tike up`)."
    )
    embedded_redis_port: int = Field(
        6379, ge=1, le=65535, description="Port of the embedded Redis server (`tike up`)."
    )


SERVICE_SETTINGS: tuple[type[CommonSettings], ...] = (
    CommonSettings,
    WorkerSettings,
    GatewaySettings,
    SimulatorSettings,
    StackSettings,
)


def settings_table() -> str:
    """Markdown table of every setting, the service classes that read it, default and meaning."""
    rows: dict[str, tuple[str, list[str], str]] = {}
    for cls in SERVICE_SETTINGS:
        for name, field in cls.model_fields.items():
            env = f"TIKE_{name.upper()}"
            if env not in rows:
                default = field.default
                if isinstance(default, SecretStr):
                    shown = "`dev-secret` (dev only)"
                elif default is None:
                    shown = "(empty)"
                else:
                    shown = f"`{default}`"
                rows[env] = (shown, [], field.description or "")
            rows[env][1].append(cls.__name__.removesuffix("Settings").lower())
    lines = ["| Variable | Read by | Default | Meaning |", "|---|---|---|---|"]
    for env, (default, readers, desc) in rows.items():
        who = "all" if "common" in readers else ", ".join(r for r in readers if r != "stack")
        lines.append(f"| `{env}` | {who or 'stack'} | {default} | {desc} |")
    return "\n".join(lines) + "\n"

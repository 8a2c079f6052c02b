"""Prometheus metrics of a gateway process (``/metrics``).

Counters are per process. The dead-letter counts and the projection lag are read from Redis
at scrape time, so every gateway reports the same figures whichever process projects.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tike_core import gc_watch

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

EVENTS_IN = Counter(
    "tike_gateway_events_in_total",
    "Kafka records projected, by topic.",
    ["topic"],
    registry=REGISTRY,
)
EVENTS_OUT = Counter(
    "tike_gateway_events_out_total",
    "Records sent: items to websockets by channel, and commands to Kafka by topic.",
    ["target"],
    registry=REGISTRY,
)
FRAMES_OUT = Counter(
    "tike_gateway_ws_frames_total",
    "Websocket frames sent, by channel.",
    ["channel"],
    registry=REGISTRY,
)
FRAMES_BUILT = Counter(
    "tike_gateway_ws_frames_built_total",
    "Websocket frames encoded, by channel and type (`deltas`, `resume`, `snapshot`): each is "
    "written to every client in the same state, so this grows with changes, not with clients.",
    ["channel", "type"],
    registry=REGISTRY,
)
DEADLETTERS = Gauge(
    "tike_deadletter_records",
    "Dead-letter records projected, by reason.",
    ["reason"],
    registry=REGISTRY,
)
DECISION_LATENCY = Histogram(
    "tike_gateway_decision_latency_seconds",
    "Event time (occurred_at) of a need to its routing decision, seen on new needs.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
E2E_LATENCY = Histogram(
    "tike_gateway_e2e_latency_seconds",
    "Event time of a new need to its first websocket write (once per need).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CLIENTS = Gauge(
    "tike_gateway_ws_clients",
    "Connected websocket clients, by channel.",
    ["channel"],
    registry=REGISTRY,
)
QUEUE_DROPS = Counter(
    "tike_gateway_queue_drops_total",
    "Slow-client events: `coalesced` (queue overflow became a snapshot) or `closed`.",
    ["channel", "reason"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "tike_gateway_consumer_lag",
    "Records on a projected topic partition not yet in Redis (this process's view).",
    ["topic", "partition"],
    registry=REGISTRY,
)
PROJECTOR_ACTIVE = Gauge(
    "tike_gateway_projector_active",
    "1 if this process holds the projection lease.",
    registry=REGISTRY,
)
PROJECTION_RESETS = Counter(
    "tike_gateway_projection_resets_total",
    "Projections rebuilt from Kafka because Redis lost its data.",
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "tike_gateway_auth_failures_total",
    "Refused tokens (missing, invalid, expired or revoked), by channel: `rest` (API requests) or "
    "`ws` (websocket connects and open sockets).",
    ["channel"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "tike_gateway_rate_limited_total",
    "Requests refused by a rate limit or cap: writes over TIKE_WRITE_RATE_PER_MIN (429) and "
    "sockets over TIKE_WS_MAX_PER_TOKEN (4429).",
    registry=REGISTRY,
)
ACCESS_RECORDS = Counter(
    "tike_gateway_access_records_total",
    "Reads of client data logged on tike.access, by action (`board.read`, `need.read`, "
    "`ws.open`, ...).",
    ["action"],
    registry=REGISTRY,
)
PROJECTION_DOWN = Gauge(
    "tike_gateway_projection_down",
    "1 if no gateway has held the projection lease for longer than TIKE_PROJECTOR_LEASE_S, as "
    "seen by this process: nothing projects Kafka into Redis and the board is frozen.",
    registry=REGISTRY,
)
PROJECTOR_FAILURES = Counter(
    "tike_gateway_projector_failures_total",
    "Projection loop failures that were retried, by kind: `transient` (Redis, Kafka or the "
    "network) or `unexpected` (anything else; logged with its traceback).",
    ["kind"],
    registry=REGISTRY,
)
REVOCATION_REFRESH_ERRORS = Counter(
    "tike_gateway_revocation_refresh_errors_total",
    "Failed reloads of the revoked token ids (open sockets keep the ids known before).",
    registry=REGISTRY,
)
GC_PAUSE_SECONDS = Histogram(
    "tike_gc_pause_seconds",
    "Python garbage collector pauses of this gateway process, by generation (they stop every "
    "socket's writes).",
    ["generation"],
    buckets=gc_watch.PAUSE_BUCKETS,
    registry=REGISTRY,
)

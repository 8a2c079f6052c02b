"""The Kafka topics Tike uses: one registry for the worker, `tike topics` and the README."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    value: str
    role: str
    compacted: bool = False
    configs: dict[str, str] = field(default_factory=dict)
    #: A fixed partition count; None means TIKE_TOPIC_PARTITIONS.
    partitions: int | None = None


ALARMS = "tike.in.alarms"
TRANSPORTS = "tike.in.transports"
CALLS_116117 = "tike.in.calls116117"
TEAM_STATUS = "tike.in.team-status"
TEAM_EVENTS = "tike.in.team-events"
CONTROL = "tike.in.control"
#: The topics other systems write to, each with the kind of event its records hold.
INPUT_KINDS = {
    ALARMS: "safety_alarm",
    TRANSPORTS: "transport_request",
    CALLS_116117: "call_116117",
    TEAM_STATUS: "team_status",
    TEAM_EVENTS: "team_event",
    CONTROL: "control_action",
}
#: The topics other systems write to (what `tike record` records by default).
INPUT_TOPICS = tuple(INPUT_KINDS)
REGION_COMMANDS = "tike.region-commands"
JOURNAL = "tike.journal"
SNAPSHOTS = "tike.snapshots"
DISPATCHES = "tike.dispatches"
BOARD = "tike.board"
INTAKE = "tike.intake"
NEEDS = "tike.needs"
CALLS = "tike.calls"
TEAM_STATE = "tike.team-state"
DEVICE_OBSERVATIONS = "tike.devices.observations"
DEVICE_HEALTH = "tike.devices"
DEVICE_STATE = "tike.devices.state"
DEADLETTER = "tike.deadletter"
DECISIONS = "tike.decisions"
RULES = "tike.rules"
AUDIT = "tike.audit"
ACCESS = "tike.access"
#: Retention of the access log (reads of client data): 12 years, the period the logs of
#: client-data use are commonly kept for in Finnish health care; set the county's own.
ACCESS_RETENTION_MS = 12 * 365 * 86400 * 1000

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(ALARMS, "device id (any key accepted)", "SafetyAlarm JSON", "input"),
    TopicSpec(TRANSPORTS, "request id (any key accepted)", "TransportRequest JSON", "input"),
    TopicSpec(CALLS_116117, "call id (any key accepted)", "Call116117 JSON", "input"),
    TopicSpec(TEAM_STATUS, "team id (any key accepted)", "TeamStatus JSON", "input"),
    TopicSpec(
        TEAM_EVENTS,
        "team id (required: keeps a team's actions in order)",
        "TeamEvent JSON",
        "input",
    ),
    TopicSpec(
        CONTROL,
        "need id (required: keeps a need's actions in order)",
        "ControlAction JSON",
        "input",
    ),
    TopicSpec(
        REGION_COMMANDS,
        "region id",
        "validated team events and control actions",
        "internal",
    ),
    TopicSpec(
        JOURNAL,
        "region id",
        "one record per input: the state it changed and the outputs it caused",
        "internal",
    ),
    TopicSpec(
        SNAPSHOTS,
        "partition number",
        "a partition's whole situation state and the journal offset after it",
        "internal",
        compacted=True,
        configs={"cleanup.policy": "compact"},
    ),
    TopicSpec(
        DISPATCHES, "team id", "Dispatch JSON: offers and their FHIR Task lifecycle", "output"
    ),
    TopicSpec(BOARD, "region id", "BoardDelta JSON: one per changed entity, versioned", "output"),
    TopicSpec(INTAKE, "region id", "UnplannedNeed JSON, before de-duplication", "internal"),
    TopicSpec(NEEDS, "region id", "UnplannedNeed JSON, one per need", "output"),
    TopicSpec(CALLS, "region id", "CallActivity JSON (116117 volume)", "output"),
    TopicSpec(TEAM_STATE, "region id", "TeamState JSON", "output"),
    TopicSpec(DEVICE_OBSERVATIONS, "device id", "DeviceObservation JSON", "internal"),
    TopicSpec(
        DEVICE_STATE,
        "device id",
        "a device's supervision state, on change and every tenth of the heartbeat timeout",
        "internal",
        compacted=True,
        configs={"cleanup.policy": "compact"},
    ),
    TopicSpec(
        DEVICE_HEALTH,
        "device id",
        "DeviceHealth JSON, on every change",
        "output",
        compacted=True,
        configs={"cleanup.policy": "compact"},
    ),
    TopicSpec(DECISIONS, "region id", "Decision JSON: route, team and explanation", "output"),
    TopicSpec(
        RULES,
        "ruleset name@version",
        "RulesetActivation JSON; the newest valid record is in force",
        "control",
        compacted=True,
        configs={"cleanup.policy": "compact"},
        partitions=1,
    ),
    TopicSpec(
        DEADLETTER,
        "source topic",
        "DeadLetter JSON with the original bytes (identity codes masked)",
        "output",
    ),
    TopicSpec(
        AUDIT,
        "actor",
        "AuditRecord JSON: every write through the gateway (who, when, what, before, after)",
        "control, append-only",
        configs={"retention.ms": "-1"},
        partitions=1,
    ),
    TopicSpec(
        ACCESS,
        "actor",
        "AccessRecord JSON: every read of client data through the gateway (who, role, what, "
        "when, from where); for the data protection officer",
        "control, append-only, 12-year retention",
        configs={"retention.ms": str(ACCESS_RETENTION_MS)},
        partitions=1,
    ),
)

BY_NAME = {t.name: t for t in TOPICS}


def topics_table() -> str:
    """Markdown table of the topics for the README."""
    lines = ["| Topic | Key (partitioning) | Value | Role |", "|---|---|---|---|"]
    for t in TOPICS:
        role = t.role + (", compacted" if t.compacted else "")
        if t.partitions is not None:
            role += f", {t.partitions} partition"
        lines.append(f"| `{t.name}` | {t.key} | {t.value} | {role} |")
    return "\n".join(lines) + "\n"

"""Every table, in one MetaData. Large tables carry ``contact_id`` so they can be sharded by contact."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from touchflow.store.types import JSONDoc, UTCDateTime

__all__ = [
    "alert_history",
    "alert_notifications",
    "alert_rules",
    "alert_state",
    "api_keys",
    "approval_artifacts",
    "approval_requests",
    "assets",
    "assignment_cursors",
    "audit_log",
    "channel_configs",
    "consent_ledger",
    "contact_consents",
    "contact_freezes",
    "contact_identities",
    "contact_merges",
    "contact_tags",
    "contacts",
    "content_reviews",
    "data_keys",
    "erasure_tombstones",
    "event_inbox",
    "events",
    "experiment_strata",
    "experiments",
    "flow_reviews",
    "goal_values",
    "holdout_runs",
    "holdouts",
    "incident_steps",
    "incidents",
    "ingest_timings",
    "journey_runs",
    "journey_schedules",
    "journey_versions",
    "journeys",
    "lead_scores",
    "login_attempts",
    "metadata",
    "metric_daily",
    "onsite_messages",
    "outbox",
    "personas",
    "recovery_codes",
    "rejects",
    "report_deliveries",
    "run_steps",
    "score_history",
    "scoring_models",
    "scoring_proposals",
    "segment_dirty",
    "segment_history",
    "segment_members",
    "segments",
    "sessions",
    "sources",
    "stage_history",
    "suppressions",
    "tag_rules",
    "tasks",
    "templates",
    "users",
    "workspace_holdouts",
    "workspace_settings",
]

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

ID = String(40)

contacts = Table(
    "contacts", metadata,
    Column("id", ID, primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("merged_into", ID, nullable=True),
    Column("name", String(200)),
    Column("gender", String(16)),
    Column("age", Integer),
    Column("city", String(100)),
    Column("province", String(100)),
    Column("industry", String(100)),
    Column("company", String(300)),
    Column("job_title", String(200)),
    Column("timezone", String(64)),
    Column("locale", String(32)),
    Column("lifecycle_stage", String(32)),
    Column("custom", JSONDoc, nullable=False),
    Column("lineage", JSONDoc, nullable=False),
    Column("name_ct", LargeBinary, nullable=True),  # 0015: the name, AES-GCM; then ``name`` is NULL (ADR 0026)
    Index(None, "merged_into"),
    Index(None, "city"),
)

contact_identities = Table(
    "contact_identities", metadata,
    Column("kind", String(40), primary_key=True),
    Column("value", String(255), primary_key=True),  # 0015: the blind index (hex HMAC) once value_ct is set
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("source", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("value_ct", LargeBinary, nullable=True),  # 0015: AES-GCM ciphertext of the value; NULL: plaintext row
    Index(None, "contact_id"),
)

data_keys = Table(  # 0015: data keys of personal data, wrapped by a KEK derived from the key ring (ADR 0026)
    "data_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("purpose", String(16), nullable=False),  # field | index
    Column("wrapped", LargeBinary, nullable=False),
    Column("kek_id", String(40), nullable=False),  # the key-ring key the KEK was derived from
    Column("state", String(16), nullable=False),  # active | retiring | retired
    Column("created_at", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime(), nullable=True),
)

contact_tags = Table(
    "contact_tags", metadata,
    Column("contact_id", ID, ForeignKey("contacts.id"), primary_key=True),
    Column("tag", String(100), primary_key=True),
    Column("set_by", String(100), nullable=False),
    Index(None, "tag"),
)

contact_consents = Table(
    "contact_consents", metadata,
    Column("contact_id", ID, ForeignKey("contacts.id"), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("source", String(100), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
)

contact_merges = Table(
    "contact_merges", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("winner_id", ID, nullable=False),
    Column("loser_id", ID, nullable=False),
    Column("linked_by", String(300), nullable=False),
    Column("source", String(100), nullable=False),
    Column("conflicts", JSONDoc, nullable=False),
    Column("undo", JSONDoc, nullable=True),  # 0010: what moved, so a person can unmerge
    Column("undone_at", UTCDateTime(), nullable=True),
    Column("undone_by", String(200), nullable=True),
    Index(None, "winner_id"),
    Index(None, "loser_id"),
)

events = Table(
    "events", metadata,
    Column("id", String(64), primary_key=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("source", String(100), nullable=False),
    Column("properties", JSONDoc, nullable=False),
    Column("identity", String(300), nullable=True),  # 0010: the identifier it arrived with (kind:value)
    Index(None, "contact_id", "type", "occurred_at"),
    Index(None, "type", "occurred_at", "contact_id"),  # covering: set-wise segment leaves read only the index
)

sources = Table(
    "sources", metadata,
    Column("name", String(100), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("sync_mode", String(16), nullable=False),
    Column("received", BigInteger, nullable=False, default=0),
    Column("accepted", BigInteger, nullable=False, default=0),
    Column("rejected", BigInteger, nullable=False, default=0),
    Column("last_sync_at", UTCDateTime(), nullable=True),
)

rejects = Table(
    "rejects", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source", String(100), nullable=False),
    Column("row_number", Integer, nullable=True),
    Column("payload", JSONDoc, nullable=True),
    Column("reason", Text, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("details", JSONDoc, nullable=False),
    Column("before_digest", String(64), nullable=True),  # sha256 of the subject's state before / after
    Column("after_digest", String(64), nullable=True),
    Column("request_id", String(64), nullable=True),
    Column("ip", String(45), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Column("prev_hash", String(64), nullable=False),  # the hash chain (domain/governance/audit_chain.py)
    Column("hash", String(64), nullable=False),
    Index(None, "at"),
    Index(None, "actor"),
    Index(None, "subject"),
    Index(None, "request_id"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # 0012: who the key belongs to (an account id, or a named service account), its role or narrower scopes
    Column("owner_user_id", String(64), nullable=True),
    Column("service_account", String(100), nullable=True),
    Column("role", String(32), nullable=False, server_default="admin"),
    Column("scopes", JSONDoc, nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Index(None, "owner_user_id"),
)

tag_rules = Table(
    "tag_rules", metadata,
    Column("name", String(100), primary_key=True),
    Column("field", String(100), nullable=False),
    Column("op", String(16), nullable=False),
    Column("value", JSONDoc, nullable=True),
    Column("tag", String(100), nullable=False),
)


# --- journeys (migration 0002) -------------------------------------------------------------------

SERIAL = BigInteger().with_variant(Integer(), "sqlite")

journeys = Table(
    "journeys", metadata,
    Column("id", ID, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # active | paused | archived
    Column("current_version", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("status_reason", Text, nullable=True),  # 0019: why it is paused (a person's reason, or the alert's)
)

journey_versions = Table(
    "journey_versions", metadata,
    Column("journey_id", ID, ForeignKey("journeys.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", JSONDoc, nullable=False),
    Column("source_text", Text, nullable=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("published_by", String(100), nullable=False),
)

journey_runs = Table(
    "journey_runs", metadata,
    Column("id", ID, primary_key=True),
    Column("journey_id", ID, ForeignKey("journeys.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("node_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("wake_at", UTCDateTime(), nullable=True),
    Column("waiting_for", String(300), nullable=True),
    Column("waiting_since", UTCDateTime(), nullable=True),
    Column("timeout_at", UTCDateTime(), nullable=True),
    Column("step_no", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("entry_key", String(300), nullable=True),  # 0009: one run per order/appointment (entry.key)
    Column("entry_data", JSONDoc, nullable=True),  # 0009: the triggering event's properties waits read
    Index(None, "status", "wake_at"),
    Index(None, "contact_id", "journey_id"),
    Index(None, "journey_id", "status"),
)

run_steps = Table(
    "run_steps", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("run_id", ID, nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("journey_id", ID, nullable=False),
    Column("node_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("edge", String(64), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", JSONDoc, nullable=False),
    Index(None, "run_id", "id"),
    Index(None, "contact_id"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", ID, primary_key=True),
    Column("idempotency_key", String(120), nullable=False, unique=True),
    Column("run_id", ID, nullable=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("journey_id", ID, nullable=True),
    Column("node_id", String(64), nullable=True),
    Column("channel", String(32), nullable=False),
    Column("template", String(200), nullable=True),
    Column("payload", JSONDoc, nullable=False),
    Column("status", String(16), nullable=False),  # queued | sent | failed | dead | skipped
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("address", String(320), nullable=True),  # where it went: email, phone, openid, URL
    Column("sent_at", UTCDateTime(), nullable=True),  # handed to the provider; counted by frequency caps
    Column("provider_id", String(200), nullable=True),  # the provider's message id, for receipts
    Column("reason", String(64), nullable=True),  # the guardrail that skipped/deferred it, or why it died
    Index(None, "status", "next_attempt_at"),
    Index(None, "contact_id"),
    Index(None, "contact_id", "sent_at"),
    Index(None, "provider_id"),
    Index(None, "sent_at"),  # 0019: what a journey sent in the last hour (circuit breakers), per day (alerts)
)

tasks = Table(
    "tasks", metadata,
    Column("id", ID, primary_key=True),
    Column("idempotency_key", String(120), nullable=False, unique=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=True),  # 0022: none on an alert's journey task
    Column("run_id", ID, nullable=True),
    Column("journey_id", ID, nullable=True),
    Column("node_id", String(64), nullable=True),
    Column("queue", String(16), nullable=False),
    Column("title", String(300), nullable=False),
    Column("assignee", String(100), nullable=True),
    Column("status", String(16), nullable=False),  # open | done
    Column("created_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime(), nullable=True),
    Column("breached_at", UTCDateTime(), nullable=True),  # when the SLA breach event was emitted
    Index(None, "status", "due_at"),
    Index(None, "contact_id"),
    Index(None, "assignee", "contact_id"),  # 0012: an agent's tasks and the contacts they may read
)

event_inbox = Table(
    "event_inbox", metadata,
    Column("seq", SERIAL, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
)

journey_schedules = Table(
    "journey_schedules", metadata,
    Column("journey_id", ID, ForeignKey("journeys.id"), primary_key=True),
    Column("next_scan_at", UTCDateTime(), nullable=False),
)

# --- channels and guardrails (0003) -------------------------------------------------------------

channel_configs = Table(
    "channel_configs", metadata,
    Column("name", String(64), primary_key=True),  # what journeys name: email, sms, wecom, ...
    Column("kind", String(32), nullable=False),  # adapter: smtp, sms_http, sms_aliyun, sms_tencent, ...
    Column("settings", JSONDoc, nullable=False),  # non-secret settings
    Column("secret", Text, nullable=True),  # AES-GCM sealed JSON of credentials
    Column("rate_per_s", Float, nullable=True),
    Column("concurrency", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

suppressions = Table(
    "suppressions", metadata,
    Column("channel", String(32), nullable=False),
    Column("address", String(320), nullable=False),
    Column("reason", String(64), nullable=False),  # unsubscribed | hard_bounce | complaint | manual
    Column("source", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("channel", "address"),
)

contact_freezes = Table(
    "contact_freezes", metadata,
    Column("id", ID, primary_key=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("frozen_at", UTCDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("event_id", String(64), nullable=True),
    Column("task_id", ID, nullable=True),
    Column("lifted_at", UTCDateTime(), nullable=True),
    Column("lifted_by", String(100), nullable=True),
    Column("lift_reason", Text, nullable=True),
    Index(None, "contact_id", "lifted_at"),
)

workspace_settings = Table(
    "workspace_settings", metadata,
    Column("key", String(64), primary_key=True),  # e.g. "guardrails"
    Column("value", JSONDoc, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False),
)

onsite_messages = Table(
    "onsite_messages", metadata,
    Column("id", ID, primary_key=True),
    Column("contact_id", ID, ForeignKey("contacts.id"), nullable=False),
    Column("outbox_id", ID, nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text, nullable=True),
    Column("status", String(16), nullable=False),  # pending | shown | clicked | dismissed | expired
    Column("created_at", UTCDateTime(), nullable=False),
    Column("shown_at", UTCDateTime(), nullable=True),
    Column("acted_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Index(None, "contact_id", "status"),
)

# --- content library (0004) ---------------------------------------------------------------------

from sqlalchemy import ForeignKeyConstraint, LargeBinary, UniqueConstraint  # noqa: E402  (append-only section)

templates = Table(
    "templates", metadata,
    Column("name", String(120), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("channel", String(32), nullable=False),  # email | sms | wecom | wechat_mp | onsite | webhook
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("text_body", Text, nullable=True),
    Column("layout", String(16), nullable=False),  # mjml | html | text
    Column("tags", JSONDoc, nullable=False),
    Column("status", String(16), nullable=False),  # draft | pending_review | approved | rejected
    Column("findings", JSONDoc, nullable=False),  # the compliance scan at save
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Index(None, "status"),
)

assets = Table(
    "assets", metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # image | file
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("metadata", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    UniqueConstraint("name", "version"),
)

content_reviews = Table(
    "content_reviews", metadata,
    Column("id", ID, primary_key=True),
    Column("template_name", String(120), nullable=False),
    Column("template_version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("requested_by", String(100), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("reviewer", String(100), nullable=True),
    Column("comment", Text, nullable=True),
    ForeignKeyConstraint(["template_name", "template_version"], ["templates.name", "templates.version"]),
    Index(None, "status"),
    Index(None, "template_name", "template_version"),
)

# --- personas and assignment (0007_personas_assignment) ---

personas = Table(
    "personas", metadata,
    Column("key", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("definition", JSONDoc, nullable=False),  # profile, condition or segment, journey map
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False),
)

assignment_cursors = Table(  # where each round-robin rule stands; one row, updated in the task's transaction
    "assignment_cursors", metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- segments (0005_segments) ---

segments = Table(
    "segments", metadata,
    Column("id", ID, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # dynamic | static
    Column("definition", JSONDoc, nullable=False),  # {"condition": …, "description": …}
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # active | archived
    Column("refresh_every_s", Integer, nullable=False),  # the safety-net full recompute
    Column("next_refresh_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

segment_members = Table(
    "segment_members", metadata,
    Column("segment_id", ID, ForeignKey("segments.id"), nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("since", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("segment_id", "contact_id"),
    Index(None, "contact_id"),
)

segment_history = Table(  # one row per stay: entered_at, and left_at once the contact left
    "segment_history", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("segment_id", ID, ForeignKey("segments.id"), nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("entered_at", UTCDateTime(), nullable=False),
    Column("left_at", UTCDateTime(), nullable=True),
    # with left_at: closing stays "segment = ? AND contact IN (…) AND left_at IS NULL" uses this index, not the
    # next one (which would walk every open stay of the segment)
    Index(None, "contact_id", "segment_id", "left_at"),
    Index(None, "segment_id", "left_at"),
)

segment_dirty = Table(  # contacts whose facts changed since their memberships were last evaluated
    "segment_dirty", metadata,
    Column("seq", SERIAL, primary_key=True, autoincrement=True),
    Column("contact_id", ID, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("batch", String(40), nullable=True),  # set when a worker claims the row, in its transaction
    Column("reason", String(80), nullable=True),  # the event type that touched it; "*": attributes, tags;
    # "+key" / "-key": entered / left segment key (the segments nesting it recheck)
    Index(None, "batch"),
)

# --- lifecycle, tiers and lead scoring (0006_lifecycle_scoring) -----------------------------------

Index("ix_events_received_at", events.c.received_at)  # the touched-contacts cursor reads events by arrival

stage_history = Table(  # every lifecycle move: by a rule of the machine, or noticed after a journey/person set it
    "stage_history", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("contact_id", ID, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("from_stage", String(32), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("by", String(100), nullable=False),
    Index(None, "contact_id", "id"),
)

scoring_models = Table(  # one row per saved version; the highest version is in force
    "scoring_models", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("document", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("note", Text, nullable=False),
)

lead_scores = Table(  # each contact's current score, and when it first reached MQL and SQL (emitted once)
    "lead_scores", metadata,
    Column("contact_id", ID, primary_key=True),
    Column("score", Float, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("computed_at", UTCDateTime(), nullable=False),
    Column("mql_at", UTCDateTime(), nullable=True),
    Column("sql_at", UTCDateTime(), nullable=True),
)

score_history = Table(
    "score_history", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("contact_id", ID, nullable=False),
    Column("score", Float, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index(None, "contact_id", "id"),
)

scoring_proposals = Table(  # what calibration proposed, and who accepted it (accepting saves a model version)
    "scoring_proposals", metadata,
    Column("id", ID, primary_key=True),
    Column("model_version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # threshold | points
    Column("target", String(100), nullable=False),
    Column("current", Float, nullable=False),
    Column("proposed", Float, nullable=False),
    Column("summary", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | accepted | superseded
    Column("created_at", UTCDateTime(), nullable=False),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by", String(100), nullable=True),
    Column("accepted_version", Integer, nullable=True),
)


# --- accounts (P3): people, their second factor and their browser sessions; see docs/subsystems/accounts.md ---

users = Table(
    "users", metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(254), nullable=False, unique=True),  # normalised (lower-case)
    Column("display_name", String(200), nullable=False),
    Column("locale", String(16), nullable=False),  # zh-CN unless set
    Column("time_zone", String(64), nullable=False),  # Asia/Shanghai unless set
    Column("role", String(32), nullable=False),  # a name of domain/governance/permissions.ROLE_NAMES
    Column("password_hash", String(255), nullable=False),  # argon2id PHC string
    Column("totp_secret", Text, nullable=True),  # sealed with the key ring (context totp:<id>)
    Column("totp_enrolled_at", UTCDateTime(), nullable=True),
    Column("totp_last_step", BigInteger, nullable=True),  # last RFC 6238 counter accepted (replay defence)
    Column("disabled_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_login_at", UTCDateTime(), nullable=True),
)

recovery_codes = Table(  # one-time codes for a lost phone: SHA-256 of 80-bit random codes, burnt on use
    "recovery_codes", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime(), nullable=True),
    Index(None, "user_id", "code_hash"),
)

sessions = Table(  # browser sessions: id = sha256 of the cookie token (the token itself is never stored)
    "sessions", metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("stage", String(20), nullable=False),  # password_ok | needs_enrolment | active
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(300), nullable=True),
    Index(None, "user_id"),
)

login_attempts = Table(  # the history login throttling is computed from (per account and per IP)
    "login_attempts", metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("email", String(254), nullable=False),  # as attempted, normalised; may name no account
    Column("user_id", ID, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("succeeded", Boolean, nullable=False),
    Index(None, "email", "at"),
    Index(None, "ip", "at"),
)

# --- four-eyes approvals (0014_approvals) ---

approval_requests = Table(  # a sensitive operation asked for by one person, decided by another (P4)
    "approval_requests", metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("payload", JSONDoc, nullable=False),
    Column("requested_by", String(200), nullable=False),  # the requester's actor id (what four-eyes compares)
    Column("requested_by_label", String(100), nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | approved | rejected | expired | executed | failed
    Column("requested_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_by_label", String(100), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("note", Text, nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("result", JSONDoc, nullable=False),
    Index(None, "state", "expires_at"),
    Index(None, "requested_at"),
)

approval_artifacts = Table(  # what an executed request left for its requester: ciphertext only, purged after 24 h
    "approval_artifacts", metadata,
    Column("request_id", ID, ForeignKey("approval_requests.id"), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("produced_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("sealed_key", Text, nullable=True),  # the data key, sealed by the key ring
    Column("ciphertext", LargeBinary, nullable=True),
    Column("downloads", Integer, nullable=False),
    Column("purged_at", UTCDateTime(), nullable=True),
    Column("one_time", Boolean, nullable=False),  # a secret: purged on its first pickup
    Index(None, "expires_at"),
)


# --- privacy requests and incidents (0016) ------------------------------------------------------

consent_ledger = Table(  # append-only: every consent a contact's record took, with who/what stated it
    "consent_ledger", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("contact_id", ID, nullable=False),
    Column("channel", String(32), nullable=False),
    Column("status", String(16), nullable=False),  # granted | denied
    Column("source", String(100), nullable=False),  # the source, "manual", "tracking", a request id
    Column("at", UTCDateTime(), nullable=False),  # when the person stated it
    Column("recorded_at", UTCDateTime(), nullable=True),
    Index(None, "contact_id", "channel", "status", "source", "at", unique=True),
)

erasure_tombstones = Table(  # a blind index (HMAC) of an erased identifier: a re-import cannot resurrect it
    "erasure_tombstones", metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("erased_at", UTCDateTime(), nullable=False),
)

incidents = Table(
    "incidents", metadata,
    Column("id", ID, primary_key=True),
    Column("summary", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("drill", Boolean, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("opened_by", String(100), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),  # the time the breach may have begun
    Column("segment", String(64), nullable=True),
    Column("details", JSONDoc, nullable=False),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("closed_by", String(100), nullable=True),
    Index(None, "status"),
)

incident_steps = Table(  # the three clocks (isolate 1 h, report 4 h, notify 24 h) and when each was done
    "incident_steps", metadata,
    Column("incident_id", ID, ForeignKey("incidents.id"), primary_key=True),
    Column("step", String(32), primary_key=True),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime(), nullable=True),
    Column("done_by", String(100), nullable=True),
    Column("note", Text, nullable=True),
)

# --- 0018: attribution and control groups --------------------------------------------------------------------

holdouts = Table(  # every control group a journey version had, kept after the version is replaced (queryable)
    "holdouts", metadata,
    Column("id", ID, primary_key=True),
    Column("journey_id", ID, ForeignKey("journeys.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", String(64), nullable=False),  # the assignment salt: the same key keeps the same contacts out
    Column("share", Float, nullable=False),
    Column("window_s", Integer, nullable=True),  # how long after entry a conversion counts; null: workspace default
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Index(None, "journey_id", "version", unique=True),
)

holdout_runs = Table(  # the arm of every run that entered a journey version with a holdout
    "holdout_runs", metadata,
    Column("run_id", ID, primary_key=True),
    Column("journey_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("held_out", Boolean, nullable=False),  # true: the control arm, no messages
    Column("entered_at", UTCDateTime(), nullable=False),
    Index(None, "journey_id", "version", "held_out"),
)

# --- 0023: the workspace control group (ADR 0029) -----------------------------------------------------------

workspace_holdouts = Table(  # every workspace-wide control group, kept after it ends (queryable)
    "workspace_holdouts", metadata,
    Column("id", ID, primary_key=True),
    Column("key", String(64), nullable=False),  # the assignment salt
    Column("share", Float, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),  # null: running (at most one)
    Column("set_by", String(100), nullable=False),
    Index(None, "started_at"),
)

experiment_strata = Table(  # per stratum, how many entrants a running experiment's split has assigned (0023)
    "experiment_strata", metadata,
    Column("experiment_id", ID, primary_key=True),
    Column("stratum", String(64), primary_key=True),
    Column("entrants", Integer, nullable=False),  # the next entrant's number is this value before the increment
)

# --- measurement: daily metric rollups (0017_metrics; ADR 0028) ---

metric_daily = Table(  # counts per local day × journey × step × template × channel × entry segment × skip reason
    "metric_daily", metadata,
    Column("day", String(10), nullable=False),  # YYYY-MM-DD in the workspace zone
    Column("journey_id", String(40), nullable=False),  # "" outside journeys
    Column("node_id", String(64), nullable=False),
    Column("template", String(200), nullable=False),  # name or name@version
    Column("channel", String(32), nullable=False),
    Column("segment", String(64), nullable=False),  # the journey's entry segment, "" when none
    Column("reason", String(64), nullable=False),  # "" except on rows counting guardrail skips by reason
    Column("entered", BigInteger, nullable=False),
    Column("queued", BigInteger, nullable=False),
    Column("sent", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=False),
    Column("bounced", BigInteger, nullable=False),
    Column("opened", BigInteger, nullable=False),
    Column("opened_unique", BigInteger, nullable=False),
    Column("clicked", BigInteger, nullable=False),
    Column("clicked_unique", BigInteger, nullable=False),
    Column("converted", BigInteger, nullable=False),
    Column("unsubscribed", BigInteger, nullable=False),
    Column("complained", BigInteger, nullable=False),
    Column("skipped", BigInteger, nullable=False),
    Column("revenue", Float, nullable=False),
    # 0034: provider receipts (``message_delivered`` events) whatever the channel; equals ``delivered`` except on
    # email and onsite, whose ``delivered`` is sent − bounced. Not a metric: the journeys list reads it
    Column("receipts", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("day", "journey_id", "node_id", "template", "channel", "segment", "reason"),
    Index(None, "journey_id", "day"),
)

ingest_timings = Table(  # one row per accepted ingest batch: how long until it was acknowledged (system response)
    "ingest_timings", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("events", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Index(None, "at"),
)


# --- alerts (migration 0019) ---------------------------------------------------------------------

alert_rules = Table(  # rules set by a person; a shipped default rule of the same name is replaced by its row
    "alert_rules", metadata,
    Column("name", String(64), primary_key=True),
    Column("document", JSONDoc, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("updated_by", String(100), nullable=False),
)

alert_state = Table(  # per rule × journey: the streak, when it last fired, cooldown, armed
    "alert_state", metadata,
    Column("rule", String(64), nullable=False),
    Column("journey_id", ID, nullable=False),
    Column("armed", Boolean, nullable=False),
    Column("consecutive", Integer, nullable=False),
    Column("last_fired", UTCDateTime(), nullable=True),
    Column("cooldown_until", UTCDateTime(), nullable=True),
    Column("counts_from", String(10), nullable=True),  # ISO date
    Column("last_day", String(10), nullable=True),  # ISO date: the last closed day a daily rule decided on
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("rule", "journey_id"),
)

alert_history = Table(  # every decision that was not "ok": warnings, breach days, triggers (acted or not)
    "alert_history", metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("journey_id", ID, nullable=False),
    Column("metric", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("acted", Boolean, nullable=False),
    Column("suppressed", String(16), nullable=True),
    Column("summary", Text, nullable=False),
    Column("details", JSONDoc, nullable=False),
    Index(None, "journey_id", "at"),
    Index(None, "at"),
)

alert_notifications = Table(  # 0022: alert messages to staff, sent by the worker's alert pass, never twice
    "alert_notifications", metadata,
    Column("id", ID, primary_key=True),
    Column("rule", String(64), nullable=False),
    Column("journey_id", ID, nullable=False),
    Column("channel", String(32), nullable=False),  # email | wecom_staff
    Column("recipients", JSONDoc, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),  # queued | sent | failed (failed: retried at next_attempt_at)
    Column("attempts", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "status", "next_attempt_at"),
)

# --- experiments (0020_experiments) ---------------------------------------------------------------

experiments = Table(  # A/B tests bound to a journey's split node; the spec and plan as documents (A5)
    "experiments", metadata,
    Column("id", ID, primary_key=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("journey_id", ID, ForeignKey("journeys.id"), nullable=False),
    Column("split_node", String(64), nullable=False),
    Column("spec", JSONDoc, nullable=False),  # arms with shares, metrics, strata, plan inputs
    Column("plan", JSONDoc, nullable=False),  # the power / sample-size plan shown before the start
    Column("state", String(16), nullable=False),  # draft | running | stopped | rolled_out
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("stopped_at", UTCDateTime(), nullable=True),
    Column("stop_reason", Text, nullable=True),
    Column("winner", String(40), nullable=True),
    Column("rolled_out_version", Integer, nullable=True),
    Column("last_analysis", JSONDoc, nullable=True),  # the latest analysis, as `experiment show --json` prints it
    Index(None, "journey_id"),
)

# --- goals, report deliveries and flow reviews (0021_goals_reports) ---

goal_values = Table(  # one recorded value of a key result per local day: the trend the at-risk flag reads
    "goal_values", metadata,
    Column("key", String(64), nullable=False),
    Column("day", String(10), nullable=False),  # ISO local date
    Column("value", Float, nullable=False),
    PrimaryKeyConstraint("key", "day"),
)

report_deliveries = Table(  # each scheduled report sent (or failed) once per kind and period
    "report_deliveries", metadata,
    Column("kind", String(16), nullable=False),  # daily | weekly | monthly
    Column("period_start", String(10), nullable=False),  # ISO local date of the period's first day
    Column("sent_at", UTCDateTime(), nullable=False),
    Column("recipients", JSONDoc, nullable=False),
    Column("status", String(16), nullable=False),  # sent | failed
    Column("detail", Text, nullable=False),
    PrimaryKeyConstraint("kind", "period_start"),
)

flow_reviews = Table(  # the quarterly review task of each journey (A7) and the reviewer's decision
    "flow_reviews", metadata,
    Column("id", ID, primary_key=True),
    Column("journey_id", ID, ForeignKey("journeys.id"), nullable=False),
    Column("journey_key", String(64), nullable=False),
    Column("quarter", String(8), nullable=False),  # 2026Q1
    Column("status", String(16), nullable=False),  # open | decided
    Column("created_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("decision", String(16), nullable=True),  # keep | change | retire
    Column("note", Text, nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    UniqueConstraint("journey_id", "quarter"),
    Index(None, "quarter"),
)

# --- 0024 rollup columns (ADR 0033): a message event's rollup dimensions as columns, and the commit order ---
# msg_* are derived from the properties when the event is stored (domain/measurement/rollup_columns.py; a
# trigger fills rows written around the repository). ``xact`` (PostgreSQL only, NULL on SQLite) is the id of
# the transaction that wrote the row: the rollup watermark; SQLite's rowid serves there (one writer at a time).
for _name, _length in (("msg_id", 64), ("msg_journey", 40), ("msg_node", 64), ("msg_template", 200),
                       ("msg_channel", 32), ("msg_reason", 64)):
    events.append_column(Column(_name, String(_length), nullable=True))
events.append_column(Column("msg_bucket", BigInteger, nullable=True))  # UTC quarter hour (epoch s // 900)
events.append_column(Column("xact", BigInteger, nullable=True))
run_steps.append_column(Column("xact", BigInteger, nullable=True))
# the rollup's GROUP BY reads this index in its order (no sort); the second one finds a message's first open
Index("ix_events_rollup", events.c.msg_journey, events.c.msg_node, events.c.msg_template, events.c.msg_channel,
      events.c.msg_reason, events.c.msg_bucket, events.c.type, events.c.msg_id, events.c.received_at,
      sqlite_where=events.c.msg_id.isnot(None), postgresql_where=events.c.msg_id.isnot(None),
      postgresql_include=["id", "xact"])  # PostgreSQL: index-only (SQLite's rowid is in every index)
Index("ix_events_msg_first", events.c.msg_id, events.c.type, events.c.received_at, events.c.id,
      sqlite_where=events.c.msg_id.isnot(None), postgresql_where=events.c.msg_id.isnot(None),
      postgresql_include=["xact"])
Index("ix_events_xact", events.c.xact, sqlite_where=events.c.xact.isnot(None))
Index("ix_run_steps_xact", run_steps.c.xact, sqlite_where=run_steps.c.xact.isnot(None))
# 0032: a journey's messages by channel and status (the journeys page's key numbers), read from the index alone
Index("ix_outbox_journey_channel_status", outbox.c.journey_id, outbox.c.channel, outbox.c.status, outbox.c.reason)
# 0034: what one journey sent in a period ("explain this drop" reads two periods of one journey)
Index("ix_outbox_journey_id_sent_at", outbox.c.journey_id, outbox.c.sent_at)

# --- experiments on journey versions (0025_experiment_versions; ADR 0034) ---
# an experiment's assignments are read by journey, step kind and time (split passes, or entries on a version)
Index("ix_run_steps_journey_id_kind_at", run_steps.c.journey_id, run_steps.c.kind, run_steps.c.at)

# --- connectors (issue 14, migration 0026) ---
connectors = Table(  # a pull from another system, as data; its committed cursor and its run lease
    "connectors", metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("settings", JSONDoc, nullable=False),  # non-secret JSON
    Column("secret", Text, nullable=True),  # sealed (SecretBox, context "connector:<name>")
    Column("secret_names", JSONDoc, nullable=False),
    Column("record_kind", String(16), nullable=False),  # contacts | events
    Column("event_type", String(64), nullable=True),
    Column("mapping", JSONDoc, nullable=False),  # FIELD -> source column
    Column("cursor_field", String(128), nullable=True),
    Column("cursor_value", JSONDoc, nullable=True),  # last committed: moves only with committed batches
    Column("schedule", String(100), nullable=False),  # cron (workspace zone) | realtime | manual
    Column("status", String(16), nullable=False),  # active | paused
    Column("next_run_at", UTCDateTime(), nullable=True),
    Column("columns", JSONDoc, nullable=False),  # the source's columns as the last run saw them
    Column("lease_owner", String(200), nullable=True),  # host:pid:token of the process running it
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(None, "status", "next_run_at"),
)

connector_runs = Table(  # every run: what it read and did, the cursor before and after (A6: sync success rate)
    "connector_runs", metadata,
    Column("id", ID, primary_key=True),
    Column("connector", String(64), ForeignKey("connectors.name"), nullable=False),
    Column("trigger", String(16), nullable=False),  # schedule | manual | test | realtime
    Column("actor", String(200), nullable=False),
    Column("status", String(16), nullable=False),  # running | succeeded | failed | interrupted
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("read", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("retried", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("warnings", JSONDoc, nullable=False),
    Column("cursor_before", JSONDoc, nullable=True),
    Column("cursor_after", JSONDoc, nullable=True),
    Column("details", JSONDoc, nullable=False),
    Index(None, "connector", "started_at"),
)

__all__ += ["connector_runs", "connectors"]


# --- write-back to CRMs (issue 14, P1; migration 0027) --------------------------------------------------------
writeback_outbox = Table(  # changes to tell a CRM, captured in the transaction that made them; shipped later
    "writeback_outbox", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("connector", String(64), nullable=False),
    Column("contact_id", ID, nullable=False),
    Column("field", String(16), nullable=False),  # score | mql | sql | stage | tasks | consent
    Column("value", JSONDoc, nullable=True),
    Column("idempotency_key", String(80), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # pending | sent | dead | discarded
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "connector", "status"),
)

__all__ += ["writeback_outbox"]

# --- console (issue 15, migration 0028) ---------------------------------------------------------------------

user_preferences = Table(  # a person's console language, time zone and theme, once they saved any (ADR 0037)
    "user_preferences", metadata,
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("locale", String(16), nullable=False),  # zh-CN | en
    Column("time_zone", String(64), nullable=False),  # IANA name
    Column("theme", String(8), nullable=False),  # light | dark
    Column("updated_at", UTCDateTime(), nullable=False),
)

# --- scale-out (issue 17, migration 0030) -------------------------------------------------------------------

channel_buckets = Table(  # one token bucket per channel shared by every dispatcher process (ADR 0047)
    "channel_buckets", metadata,
    Column("channel", String(64), primary_key=True),
    Column("tokens", Float, nullable=False),  # may go below zero: sends already promised a later moment
    Column("refilled_at", Float, nullable=False),  # seconds since the epoch on the database's clock
)

channel_slots = Table(  # a channel's concurrency as leased slots: a crashed holder's slot frees when its lease ends
    "channel_slots", metadata,
    Column("channel", String(64), nullable=False),
    Column("slot", Integer, nullable=False),
    Column("holder", String(64), nullable=True),
    Column("lease_until", Float, nullable=False),  # seconds since the epoch on the database's clock
    PrimaryKeyConstraint("channel", "slot"),
)

worker_loads = Table(  # each worker's last report of how busy it is (A8 capacity; ADR 0047)
    "worker_loads", metadata,
    Column("worker_id", String(80), primary_key=True),  # host:pid:start
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("reported_at", UTCDateTime(), nullable=False),
    Column("busy_share", Float, nullable=False),  # share of the last window spent working, 0..1
    Column("queue_lag", JSONDoc, nullable=False),  # queue name → seconds the oldest due item has waited
    Index(None, "reported_at"),
)

capacity_samples = Table(  # the cluster once a minute: live workers and their mean busy share (capacity alert)
    "capacity_samples", metadata,
    Column("at", UTCDateTime(), primary_key=True),  # the minute
    Column("workers", Integer, nullable=False),
    Column("busy_share", Float, nullable=False),
    Column("queue_lag_s", Float, nullable=False, server_default="0"),  # the worst queue's lag: are they behind?
)

__all__ += ["capacity_samples", "channel_buckets", "channel_slots", "worker_loads"]

# --- retention (issue 17, migration 0031; ADR 0048): the purge finds old finished rows without a full scan ---
Index("ix_outbox_updated_at", outbox.c.updated_at)
Index("ix_run_steps_at", run_steps.c.at)

# --- the lifecycle page's aggregate (issue 15, migration 0033; ADR 0049): kept by triggers (store/stage_totals_sql) ---
stage_latest = Table(  # each contact's latest stage_history row; live: the contact exists and is not merged away
    "stage_latest", metadata,
    Column("contact_id", ID, primary_key=True),
    Column("history_id", SERIAL, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("from_stage", String(32), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("live", Integer, nullable=False),  # 1 or 0
    Index(None, "at"),
)

stage_totals = Table(  # live contacts by their latest change: stage, previous stage ('' for none), UTC day
    "stage_totals", metadata,
    Column("stage", String(32), nullable=False),
    Column("from_stage", String(32), nullable=False),
    Column("day", String(10), nullable=False),  # YYYY-MM-DD
    Column("n", Integer, nullable=False),
    PrimaryKeyConstraint("stage", "from_stage", "day"),
)

__all__ += ["stage_latest", "stage_totals"]

# --- stored duplicate suggestions (issue 15, migration 0033; ADR 0049): blocking keys, pairs, the queue ---
duplicate_dirty = Table(  # contacts whose name, company, city or liveness changed (filled by triggers)
    "duplicate_dirty", metadata,
    Column("contact_id", ID, primary_key=True),
)

duplicate_keys = Table(  # one row per live contact with a name and a city
    "duplicate_keys", metadata,
    Column("contact_id", ID, primary_key=True),
    Column("city", String(100), nullable=False),
    Column("name_key", String(64), nullable=False),  # the name under the data keys' blind index when encrypted
    Column("name_len", Integer, nullable=False),
    Column("company", String(300), nullable=False),  # '' for none
    Index(None, "city", "name_key"),
    Index(None, "city", "name_len"),
)

ID_BYTES = String(40).with_variant(String(40, collation="C"), "postgresql")  # ordered as Python orders str

duplicate_pairs = Table(  # every pair scoring ≥ 88 on name and company in one city (domain/duplicates.score_pair)
    "duplicate_pairs", metadata,
    Column("first", ID_BYTES, nullable=False),  # the lower contact id
    Column("second", ID_BYTES, nullable=False),
    Column("score", Float, nullable=False),
    Column("rank", Integer, nullable=False),  # 1000 − score × 10: the index reads best first
    Column("name_score", Float, nullable=False),
    Column("company_score", Float, nullable=False),
    Column("reason", String(400), nullable=False),
    PrimaryKeyConstraint("first", "second"),
    Index(None, "second"),
    Index(None, "rank", "first", "second"),
)

__all__ += ["duplicate_dirty", "duplicate_keys", "duplicate_pairs"]

"""Connectors (issue 14): pulls from CRM, ERP, shop and social systems, as data, with their runs."""

from touchflow.domain.connectors.model import (
    DEFAULT_FAILURE_THRESHOLD,
    RECORD_KINDS,
    RUN_STATUSES,
    Connector,
    ConnectorRun,
    ConnectorStatus,
    RecordKind,
    RunStatus,
    consecutive_failures,
    success_rate,
    validate_connector,
)
from touchflow.domain.connectors.schedule import MANUAL, REALTIME, Cron, next_run, parse_schedule

__all__ = [
    "DEFAULT_FAILURE_THRESHOLD",
    "MANUAL",
    "REALTIME",
    "RECORD_KINDS",
    "RUN_STATUSES",
    "Connector",
    "ConnectorRun",
    "ConnectorStatus",
    "Cron",
    "RecordKind",
    "RunStatus",
    "consecutive_failures",
    "next_run",
    "parse_schedule",
    "success_rate",
    "validate_connector",
]

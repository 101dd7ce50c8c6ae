"""Pain-episode and technical alerts: a pure engine, its parameters, and the wire models."""

from service.alerts.engine import AlertEngine, AlertError, Reading
from service.alerts.models import Alert, AlertEvent, AlertKind, AlertStatus, EventType, Priority, Verdict
from service.alerts.params import AlertParams

__all__ = [
    "Alert",
    "AlertEngine",
    "AlertError",
    "AlertEvent",
    "AlertKind",
    "AlertParams",
    "AlertStatus",
    "EventType",
    "Priority",
    "Reading",
    "Verdict",
]

"""The bed registry in the shared database: which node owns which bed, node heartbeats, node_down alerts.

Every time here is the database server's clock (`clock_timestamp()`), written and compared in the same statement,
so a node whose own clock is off neither looks down nor hides a dead peer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, and_, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from service.alerts.models import Alert, AlertEvent, AlertEventMessage, AlertKind, AlertStatus, EventType, Priority
from service.errors import UserError
from service.store.database import Store, alert_from_row
from service.store.models import AlertEventRow, AlertRow, BedRow, NodeRow

logger = logging.getLogger(__name__)


def server_now() -> ColumnElement[float]:
    """The database server's clock, Unix seconds."""
    return func.extract("epoch", func.clock_timestamp()).cast(Float)


@dataclass(frozen=True)
class RegisteredBed:
    bed_id: str
    label: str
    scale: str
    node_id: str
    advertise_url: str
    heartbeat_age_s: float
    """Seconds since the owning node's last heartbeat, on the database server's clock."""


class BedClaimed(UserError):
    """A bed of this node's config is owned by another node that is alive."""


def claim_beds(
    store: Store,
    node_id: str,
    url: str,
    beds: Sequence[tuple[str, str, str]],
    down_after_s: float,
    instance: str | None = None,
) -> None:
    """Register this node (process `instance`) and take its beds (id, label, scale), in one transaction. A bed owned
    by another node whose heartbeat is fresh is refused (BedClaimed); one owned by a node that is down is taken over.
    Beds this node owned before and no longer has are released."""
    ids = [bed_id for bed_id, _label, _scale in beds]
    with store.sessions.begin() as session:
        values = {"advertise_url": url, "started_at": server_now(), "heartbeat_at": server_now(), "instance": instance}
        upsert = insert(NodeRow).values(id=node_id, **values)
        session.execute(upsert.on_conflict_do_update(index_elements=[NodeRow.id], set_=values))
        for bed_id, label, scale in beds:
            new = insert(BedRow).values(id=bed_id, label=label, scale=scale, created_at=server_now())
            session.execute(new.on_conflict_do_nothing(index_elements=[BedRow.id]))
        owners = session.execute(
            select(BedRow.id, NodeRow.id, NodeRow.advertise_url, server_now() - NodeRow.heartbeat_at)
            .join(NodeRow, NodeRow.id == BedRow.node_id)
            .where(BedRow.id.in_(ids), BedRow.node_id != node_id)
            .with_for_update(of=BedRow)  # two nodes starting with one bed id: the second waits, then sees the first
        ).all()
        for bed_id, owner, owner_url, age in owners:
            if age <= down_after_s:
                raise BedClaimed(
                    f"beds: bed {bed_id!r} already belongs to node {owner!r} ({owner_url}), whose heartbeat is "
                    f"{age:.1f} s old: a bed is monitored by exactly one node. Give this bed another id, or remove "
                    f"it from node {owner!r} and restart that node first"
                )
            logger.warning("taking over bed %s from node %s (down for %.0f s)", bed_id, owner, age)
        session.execute(update(BedRow).where(BedRow.id.in_(ids)).values(node_id=node_id))
        session.execute(update(BedRow).where(BedRow.node_id == node_id, BedRow.id.not_in(ids)).values(node_id=None))


@dataclass(frozen=True)
class _NodeSeen:
    instance: str | None
    heartbeat_at: float
    age_s: float


def _node_seen(store: Store, node_id: str) -> _NodeSeen | None:
    with store.sessions() as session:
        row = session.execute(
            select(NodeRow.instance, NodeRow.heartbeat_at, server_now() - NodeRow.heartbeat_at).where(
                NodeRow.id == node_id
            )
        ).one_or_none()
    return _NodeSeen(*row) if row is not None else None


def ensure_node_id_free(store: Store, node_id: str, down_after_s: float, poll_s: float = 0.5) -> None:
    """Refuse to run as `node_id` while another process runs with it: its heartbeat still moves. A node that was
    killed a moment ago (its heartbeat is fresh but stands still) is waited for, at most `down_after_s`; one that
    stopped cleanly released its id and is not waited for."""
    first = _node_seen(store, node_id)
    if first is None or first.instance is None or first.age_s > down_after_s:
        return
    logger.info("node id %s was in use %.1f s ago: waiting to see whether that process still runs", node_id,
                first.age_s)  # fmt: skip
    deadline = time.monotonic() + down_after_s + 2 * poll_s
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        seen = _node_seen(store, node_id)
        if seen is None or seen.instance is None or seen.age_s > down_after_s:
            return
        if (seen.instance, seen.heartbeat_at) != (first.instance, first.heartbeat_at):
            raise UserError(
                f"node.id: {node_id!r} is in use by another running painwatch serve (its heartbeat keeps moving): "
                "give every node of the ward its own node.id, or stop the other process first"
            )


def release_node(store: Store, node_id: str, instance: str) -> None:
    """A clean stop: the id is free for the next start at once (the beds still turn node_down once the heartbeat
    is older than down_after_s: they are not monitored)."""
    with store.sessions.begin() as session:
        session.execute(
            update(NodeRow).where(NodeRow.id == node_id, NodeRow.instance == instance).values(instance=None)
        )


def heartbeat(store: Store, node_id: str) -> None:
    with store.sessions.begin() as session:
        session.execute(update(NodeRow).where(NodeRow.id == node_id).values(heartbeat_at=server_now()))


def registered_beds(store: Store) -> list[RegisteredBed]:
    """Every owned bed of the ward with its node's heartbeat age."""
    with store.sessions() as session:
        rows = session.execute(
            select(
                BedRow.id, BedRow.label, BedRow.scale, NodeRow.id, NodeRow.advertise_url,
                server_now() - NodeRow.heartbeat_at,
            ).join(NodeRow, NodeRow.id == BedRow.node_id).order_by(BedRow.id)
        ).all()  # fmt: skip
    return [RegisteredBed(*row) for row in rows]


def active_alerts_of(store: Store, bed_ids: Sequence[str]) -> list[Alert]:
    if not bed_ids:
        return []
    with store.sessions() as session:
        query = select(AlertRow).where(AlertRow.bed_id.in_(bed_ids), AlertRow.status != AlertStatus.CLOSED.value)
        return [alert_from_row(row) for row in session.scalars(query.order_by(AlertRow.opened_at))]


def raise_node_down(store: Store, bed: RegisteredBed) -> AlertEventMessage | None:
    """Open the bed's node_down alert unless one is active. The partial unique index lets exactly one of several
    nodes racing here insert it; the others get None (no event to publish)."""
    with store.sessions() as session:
        exists = session.scalar(select(AlertRow.id).where(AlertRow.bed_id == bed.bed_id, _active_node_down()).limit(1))
        wall = float(session.scalar(select(server_now())) or 0.0)
    if exists is not None:
        return None
    reason = f"node {bed.node_id} ({bed.advertise_url}) has not answered for {bed.heartbeat_age_s:.0f} s"
    # medium, not low: a whole node's beds are unmonitored and no engine is left to escalate it
    alert = Alert(bed_id=bed.bed_id, kind=AlertKind.NODE_DOWN, priority=Priority.MEDIUM, opened_at=wall,
                  updated_at=wall, reason=reason)  # fmt: skip
    event = AlertEvent(ts=wall, type=EventType.OPENED, bed_id=bed.bed_id, alert_id=alert.id,
                       details={"priority": alert.priority.value, "node_id": bed.node_id})  # fmt: skip
    try:
        with store.sessions.begin() as session:
            session.add(AlertRow(**alert.model_dump(mode="json")))
            session.flush()
            session.add(AlertEventRow(**event.model_dump(mode="json")))
    except IntegrityError:
        return None  # another surviving node raised it first
    return AlertEventMessage(event=event, alert=alert)


def close_node_down(store: Store, live_bed_ids: Sequence[str], min_on_s: float = 0.0) -> list[AlertEventMessage]:
    """Close the active node_down alerts of beds whose node is back, once open `min_on_s` (on the server's clock);
    one conditional update each: only the node whose update changed the row publishes the close."""
    if not live_bed_ids:
        return []
    closed: list[AlertEventMessage] = []
    with store.sessions() as session:
        open_ids = session.scalars(
            select(AlertRow.id).where(
                AlertRow.bed_id.in_(live_bed_ids), _active_node_down(), AlertRow.opened_at <= server_now() - min_on_s
            )
        ).all()
    for alert_id in open_ids:
        with store.sessions.begin() as session:
            row = session.execute(
                update(AlertRow)
                .where(AlertRow.id == alert_id, AlertRow.status != AlertStatus.CLOSED.value)
                .values(status=AlertStatus.CLOSED.value, closed_at=server_now(), updated_at=server_now())
                .returning(AlertRow)
            ).scalar_one_or_none()
            if row is None:
                continue
            alert = alert_from_row(row)
            assert alert.closed_at is not None
            event = AlertEvent(ts=alert.closed_at, type=EventType.CLOSED, bed_id=alert.bed_id, alert_id=alert.id,
                               details={"reason": "node is back"})  # fmt: skip
            session.add(AlertEventRow(**event.model_dump(mode="json")))
            closed.append(AlertEventMessage(event=event, alert=alert))
    return closed


def _active_node_down() -> ColumnElement[bool]:
    return and_(AlertRow.kind == AlertKind.NODE_DOWN.value, AlertRow.status != AlertStatus.CLOSED.value)

"""This process as one node of a ward: what it tells the others, what it knows of their beds, and how a nurse's
action on another node's bed reaches that bed's alert engine.

Threads (all supervised, `components()`): the bus's outbox and listener (service/ward/bus.py), `ward-watch`
(heartbeat, registry, node_down alerts, every `node.heartbeat_s`) and `ward-summaries` (this node's bed summaries
at `stream.summary_hz`). Commands from other nodes run on a small pool, so a slow database write never holds up
the listener.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from service.aggregation import Scale
from service.alerts.center import AlertCenter, AlertNotFound
from service.alerts.engine import AlertError
from service.alerts.models import Alert, AlertEventMessage, AlertKind, BedAlertState, Verdict, new_id
from service.alerts.params import AlertParams
from service.errors import UserError
from service.pipeline.bed import BedRuntime
from service.pipeline.broadcaster import Outgoing
from service.pipeline.messages import BedState, BedSummary
from service.store.database import Store
from service.supervision import PeriodicTask, Supervised
from service.ward import registry
from service.ward.bus import Listener, Outbox, conninfo
from service.ward.messages import AlertEventNote, BedSummaryNote, CommandNote, ReplyNote, WardNote
from service.ward.registry import RegisteredBed
from service.ward.settings import NodeConfig

logger = logging.getLogger(__name__)

Action = Literal["ack", "pause", "resume"]


class RemoteRefused(Exception):
    """A command for a remote bed was not applied: `status` and `detail` as the API should answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    reply: ReplyNote | None = None


@dataclass(frozen=True)
class _Received:
    summary: BedSummary
    at_mono: float


class WardNode:
    def __init__(
        self,
        config: NodeConfig,
        store: Store,
        outbox: Outbox,
        dsn: str,
        beds: Sequence[BedRuntime],
        alerts: AlertCenter,
        summary_hz: float,
        technical: AlertParams | None = None,
    ) -> None:
        """`technical`: the minimum on and off times of the node_down alerts (the service's `alerts:`)."""
        self.config = config
        self.id = config.id
        self.store = store
        self.outbox = outbox
        self.alerts = alerts
        self._local = {bed.bed_id: bed for bed in beds}
        self.listener = Listener(config.id, dsn, self.handle)
        self._watch = PeriodicTask("ward-watch", self.watch, config.heartbeat_s)
        self._summaries = PeriodicTask("ward-summaries", self.publish_summaries, 1.0 / summary_hz)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ward-command")
        self._lock = threading.Lock()
        self._received: dict[str, _Received] = {}
        self._registry: dict[str, RegisteredBed] = {}
        self._down_alerts: dict[str, list[Alert]] = {}
        self._pending: dict[str, _Pending] = {}
        params = technical if technical is not None else AlertParams()
        self._min_on_s, self._min_off_s = params.technical_min_on_s, params.technical_min_off_s
        self.peer_tls = peer_tls(config)
        """How the Grad-CAM relay checks another node's https certificate (service/api/routes/streams.py)."""
        self._live_since: dict[str, float] = {}
        """Monotonic time from which each bed's node has been seen alive without a break (closing node_down)."""

    def components(self) -> list[Supervised]:
        """Started in this order after the store writer (the watch first: the heartbeat never waits on the bus)."""
        return [self._watch, self.outbox, self.listener, self._summaries]

    # -- what this node tells the others -------------------------------------------------------------------------
    def publish_summaries(self) -> None:
        for bed in self._local.values():
            self.outbox.put(BedSummaryNote(origin=self.id, summary=self.local_summary(bed)))

    def local_summary(self, bed: BedRuntime) -> BedSummary:
        summary = bed.summary()
        summary.node_id = self.id
        # notes stay in the database: a summary must fit a NOTIFY payload whatever the nurses wrote
        summary.active_alerts = [a.model_copy(update={"note": None}) for a in self.alerts.active_for(bed.bed_id)]
        summary.alerts_paused_until = self.alerts.bed_state(bed.bed_id).paused_until
        return summary

    def _announce(self, change: AlertEventMessage) -> None:
        """An alert event this node wrote outside its engine (node_down): shown here and sent to the others."""
        self.alerts.broadcaster.publish(Outgoing(change.model_dump_json()))
        self.outbox.put(AlertEventNote(origin=self.id, change=change))

    # -- heartbeat, registry and node failure ----------------------------------------------------------------------
    def watch(self) -> None:
        registry.heartbeat(self.store, self.id)
        beds = registry.registered_beds(self.store)
        limit = self.config.down_after_s
        down = [b for b in beds if b.node_id != self.id and b.heartbeat_age_s > limit]
        for bed in down:
            change = registry.raise_node_down(self.store, bed)
            if change is not None:
                logger.error("bed %s: %s", bed.bed_id, change.alert.reason if change.alert else "node down")
                self._announce(change)
        for change in registry.close_node_down(self.store, self._back_for_long_enough(beds), self._min_on_s):
            logger.warning("bed %s: its node is back; node_down alert closed", change.event.bed_id)
            self._announce(change)
        down_alerts: dict[str, list[Alert]] = {}
        for alert in registry.active_alerts_of(self.store, [b.bed_id for b in down]):
            down_alerts.setdefault(alert.bed_id, []).append(alert)
        with self._lock:
            self._registry = {b.bed_id: b for b in beds}
            self._down_alerts = down_alerts

    def _back_for_long_enough(self, beds: list[RegisteredBed]) -> list[str]:
        """Beds whose node has been alive for technical_min_off_s without a break: a node that flaps between up
        and down keeps its beds' node_down alerts open (one alert, not one per flap), as on a single node."""
        now_mono = time.monotonic()
        live = {b.bed_id for b in beds if b.heartbeat_age_s <= self.config.down_after_s}
        self._live_since = {b: self._live_since.get(b, now_mono) for b in live}
        return [b for b, since in self._live_since.items() if now_mono - since >= self._min_off_s]

    # -- what this node knows of the others' beds ------------------------------------------------------------------
    def remote_summaries(self) -> list[BedSummary]:
        """Every bed of other nodes, as known now: live, `stale` (no recent summary) or `node_down`; a score is
        shown only while it is current."""
        now_mono = time.monotonic()
        with self._lock:
            beds = [b for b in self._registry.values() if b.bed_id not in self._local]
            received = dict(self._received)
            down_alerts = dict(self._down_alerts)
        return [self._remote_summary(b, received.get(b.bed_id), down_alerts, now_mono) for b in beds]

    def _remote_summary(
        self, bed: RegisteredBed, got: _Received | None, down_alerts: dict[str, list[Alert]], now_mono: float
    ) -> BedSummary:
        if bed.heartbeat_age_s > self.config.down_after_s:
            reason = f"node {bed.node_id} has not answered for {bed.heartbeat_age_s:.0f} s"
            return self._unknown(bed, got, BedState.NODE_DOWN, reason, down_alerts.get(bed.bed_id, []))
        if got is None:
            return self._unknown(bed, None, BedState.STALE, f"no summary from node {bed.node_id} yet", [])
        age = now_mono - got.at_mono
        if age > self.config.remote_stale_after_s:
            reason = f"the last summary from node {bed.node_id} is {age:.1f} s old"
            return self._unknown(bed, got, BedState.STALE, reason, got.summary.active_alerts)
        return got.summary

    @staticmethod
    def _unknown(
        bed: RegisteredBed, got: _Received | None, state: BedState, reason: str, alerts: list[Alert]
    ) -> BedSummary:
        """Unknown is never 'no pain': no score, only the state and why."""
        last = got.summary if got is not None else None
        return BedSummary(
            bed_id=bed.bed_id, label=bed.label, scale=Scale(bed.scale), state=state, state_reason=reason,
            last_update_ts=last.last_update_ts if last else None, active_alerts=alerts,
            alerts_paused_until=last.alerts_paused_until if last else None, node_id=bed.node_id,
        )  # fmt: skip

    def remote_bed(self, bed_id: str) -> RegisteredBed | None:
        with self._lock:
            bed = self._registry.get(bed_id)
        return bed if bed is not None and bed.bed_id not in self._local else None

    def remote_alerts(self) -> list[Alert]:
        """Active alerts of the other nodes' beds (for the /ws/alerts snapshot)."""
        return [a for s in self.remote_summaries() for a in s.active_alerts]

    # -- notes from the other nodes ---------------------------------------------------------------------------------
    def handle(self, note: WardNote) -> None:
        if isinstance(note, BedSummaryNote):
            if note.summary.bed_id not in self._local:
                with self._lock:
                    self._received[note.summary.bed_id] = _Received(note.summary, time.monotonic())
        elif isinstance(note, AlertEventNote):
            self.alerts.broadcaster.publish(Outgoing(note.change.model_dump_json()))
        elif isinstance(note, CommandNote):
            if note.target == self.id:
                self._pool.submit(self._apply, note)
        elif note.target == self.id:
            with self._lock:
                pending = self._pending.get(note.id)
            if pending is not None:
                pending.reply = note
                pending.done.set()

    def _apply(self, command: CommandNote) -> None:
        """Apply a command for one of this node's beds through its alert engine (once: only the target applies)."""
        reply = ReplyNote(origin=self.id, id=command.id, target=command.origin, status=200)
        try:
            if command.bed_id not in self._local:
                raise AlertNotFound(f"bed {command.bed_id!r} is not on node {self.id}")
            if command.action == "ack":
                assert command.alert_id is not None and command.verdict is not None
                reply.alert = self.alerts.acknowledge(command.alert_id, command.user, command.verdict, command.note)
            elif command.action == "pause":
                reply.bed = self.alerts.pause(command.bed_id, command.minutes, command.reason or "", command.user)
            else:
                reply.bed = self.alerts.resume(command.bed_id, command.user)
        except AlertNotFound as exc:
            reply.status, reply.detail = 404, str(exc)
        except AlertError as exc:
            reply.status, reply.detail = 409, str(exc)
        except SQLAlchemyError as exc:
            reply.status = 503
            reply.detail = f"store unavailable on node {self.id}: not saved ({type(exc).__name__}); try again"
        logger.info("applied %s from node %s for bed %s: %d", command.action, command.origin, command.bed_id,
                    reply.status)  # fmt: skip
        self.outbox.put(reply)

    # -- commands to the other nodes --------------------------------------------------------------------------------
    def acknowledge_remote(self, alert_id: str, user: str, verdict: Verdict, note: str | None) -> Alert | None:
        """Acknowledge an alert of another node's bed through that node; None when this node applies it itself
        (its own bed, an unknown alert, or a node_down alert, which belongs to no engine)."""
        found = self.store.get_alert(alert_id)
        if found is None or found[0].kind is AlertKind.NODE_DOWN:
            return None
        bed = self.remote_bed(found[0].bed_id)
        if bed is None:
            return None
        reply = self._command(bed, "ack", user, alert_id=alert_id, verdict=verdict, note=note)
        assert reply.alert is not None
        return reply.alert

    def pause_remote(self, bed: RegisteredBed, minutes: float | None, reason: str, user: str) -> BedAlertState:
        reply = self._command(bed, "pause", user, minutes=minutes, reason=reason)
        assert reply.bed is not None
        return reply.bed

    def resume_remote(self, bed: RegisteredBed, user: str) -> BedAlertState:
        reply = self._command(bed, "resume", user)
        assert reply.bed is not None
        return reply.bed

    def _command(
        self,
        bed: RegisteredBed,
        action: Action,
        user: str,
        *,
        alert_id: str | None = None,
        verdict: Verdict | None = None,
        note: str | None = None,
        reason: str | None = None,
        minutes: float | None = None,
    ) -> ReplyNote:
        """Send the command to the bed's node and wait for its answer (RemoteRefused unless it applied it)."""
        if bed.heartbeat_age_s > self.config.down_after_s:
            raise RemoteRefused(503, f"bed {bed.bed_id} is on node {bed.node_id}, which is down: nothing was changed")
        command = CommandNote(
            origin=self.id, id=new_id(), target=bed.node_id, action=action, user=user, bed_id=bed.bed_id,
            alert_id=alert_id, verdict=verdict, note=note, reason=reason, minutes=minutes,
        )  # fmt: skip
        pending = _Pending()
        with self._lock:
            self._pending[command.id] = pending
        try:
            self.outbox.put(command)
            if not pending.done.wait(self.config.command_timeout_s):
                raise RemoteRefused(
                    503,
                    f"bed {bed.bed_id} is on node {bed.node_id}, which did not answer within "
                    f"{self.config.command_timeout_s:g} s; check the bed's state before trying again",
                )
        finally:
            with self._lock:
                self._pending.pop(command.id, None)
        assert pending.reply is not None
        if pending.reply.status != 200:
            raise RemoteRefused(pending.reply.status, pending.reply.detail or "refused by the owning node")
        return pending.reply

    def counters(self) -> dict[str, int]:
        """The bus's message counts (for /metrics)."""
        outbox, listener = self.outbox, self.listener
        return {"sent": outbox.sent, "dropped": outbox.dropped, "too_large": outbox.too_large,
                "received": listener.received, "malformed": listener.malformed, "failed": listener.failed}  # fmt: skip

    def close(self) -> None:
        """After the threads stopped: release this node's id for the next start (best effort)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        try:
            registry.release_node(self.store, self.id, self.outbox.instance)
        except SQLAlchemyError as exc:
            logger.warning("could not release node id %s (%s)", self.id, type(exc).__name__)


def peer_tls(config: NodeConfig) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(config.peer_ca_file) if config.peer_ca_file else None)
    except OSError as exc:  # ssl.SSLError too
        raise UserError(
            f"node.peer_ca_file: cannot use {config.peer_ca_file} as CA bundle ({exc}); give a readable PEM file"
        ) from exc


def open_outbox(node: NodeConfig, store: Store, url: str, beds: Sequence[tuple[str, str, str]]) -> Outbox:
    """At start-up, before anything runs: register the node, claim its beds (BedClaimed, a UserError, when another
    live node owns one) and make the outbox its alert center will send through."""
    registry.ensure_node_id_free(store, node.id, node.down_after_s)
    outbox = Outbox(node.id, conninfo(url))
    registry.claim_beds(store, node.id, node.advertise_url, beds, node.down_after_s, outbox.instance)
    logger.info("ward node %s (%s) owns %d bed(s)", node.id, node.advertise_url, len(beds))
    return outbox

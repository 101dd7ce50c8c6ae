"""The `node:` section: this process as one node of a ward that shares a PostgreSQL database (docs/ward.md)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from service.paths import ConfigPath

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        description="This node's name in the ward, unique and stable across restarts (letters, digits, '.', '_', '-'; "
        "at most 64). Its beds are registered to it; a restarted node with the same id takes its beds back."
    )
    advertise_url: str = Field(
        description="How the other nodes reach this one (http://host:port or https://...): they proxy the live "
        "Grad-CAM of this node's beds from it."
    )
    peer_ca_file: ConfigPath | None = Field(
        default=None,
        description="PEM CA bundle trusted for the other nodes' https advertise_url (the Grad-CAM relay); null: the "
        "system's CAs.",
    )
    heartbeat_s: float = Field(default=1.0, gt=0, le=10, description="How often the node writes its heartbeat.")
    down_after_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="A node whose heartbeat is older than this is down: its beds show node_down on every view and "
        "each gets one technical alert.",
    )
    remote_stale_after_s: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="A remote bed whose last summary is older than this shows stale (unknown, never 'no pain').",
    )
    command_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long an acknowledgement, pause or resume of a remote bed waits for its owning node's answer "
        "(then 503).",
    )

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not NODE_ID.match(value):
            raise ValueError("use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("advertise_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError("give the node's base URL as the other nodes reach it, e.g. http://cot-3.ward:8000")
        return value.rstrip("/")

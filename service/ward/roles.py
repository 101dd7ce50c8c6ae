"""`painwatch serve --role ward`: the same config file, run as a view-only node of the ward (no beds of its own)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from service.errors import UserError

if TYPE_CHECKING:  # the CLI imports Role for its --help: keep this module light
    from service.config import ServiceSettings


class Role(StrEnum):
    NODE = "node"
    """As configured: the config's beds (a config with none and `node:` set is a view-only node too)."""
    WARD = "ward"
    """View only: the config's beds are ignored; `node:` and a PostgreSQL `store.url` are required."""


def apply_role(settings: ServiceSettings, role: Role) -> ServiceSettings:
    if role is Role.NODE:
        return settings
    if settings.node is None:
        raise UserError(
            "--role ward: the config has no `node:` section; add node: {id: <unique name>, advertise_url: "
            "http://<host>:<port>} and the ward's PostgreSQL store.url (docs/ward.md)"
        )
    return settings.model_copy(update={"beds": []})

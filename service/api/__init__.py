"""HTTP/WebSocket interface of the bedside service (FastAPI): one router per resource."""

from service.api.app import create_app
from service.api.state import ServiceState

__all__ = ["ServiceState", "create_app"]

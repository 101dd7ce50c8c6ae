"""Service configuration: YAML plus PAINWATCH_* environment overrides, strict, every field described."""

from service.config.loading import load_settings
from service.config.settings import (
    AuthConfig,
    BedConfig,
    DetectorConfig,
    ModelConfig,
    ServerConfig,
    ServiceSettings,
    StreamConfig,
)

__all__ = [
    "AuthConfig",
    "BedConfig",
    "DetectorConfig",
    "ModelConfig",
    "ServerConfig",
    "ServiceSettings",
    "StreamConfig",
    "load_settings",
]

"""Reading the config: a YAML file (or the embedded demo default) validated into ServiceSettings.

Every problem becomes one line of a ConfigError naming the file, the line and the key path (e.g.
`beds[0].source.path`), with a "did you mean" for a misspelt key or value (service/config/problems.py), so
`painwatch serve --config bad.yaml` exits 2 with a message a person can act on.

Relative paths in a config file (model.path, model.root, a video source's path, a RealSense recording, the TLS
files, data_dir) resolve against the folder of that file, never the working directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from service.config.problems import ConfigError, YamlSource, config_error, read_yaml_file, resolve_paths, validate
from service.config.settings import ServiceSettings, default_data_dir

logger = logging.getLogger(__name__)

DEMO_BED_ID = "demo-1"
DEMO_VIDEO_NAME = "synthetic-demo.mp4"
EMBEDDED = "embedded default configuration"


def demo_video_path(data_dir: Path) -> Path:
    return Path(data_dir) / "demo" / DEMO_VIDEO_NAME


def default_config(data_dir: Path | None = None) -> dict[str, Any]:
    """One demo bed playing the synthetic demo video in a loop (generated on first use by `painwatch serve`)."""
    folder = data_dir or default_data_dir()
    return {
        "beds": [
            {
                "id": DEMO_BED_ID,
                "label": "Demo bed (synthetic video, not a patient)",
                "scale": "DAN",
                "source": {"type": "video", "path": str(demo_video_path(folder)), "loop": True, "realtime": True},
            }
        ],
        "data_dir": str(folder),
    }


def load_settings(path: Path | None = None) -> ServiceSettings:
    """Settings from a YAML file, or the embedded demo default when `path` is None; env overrides apply."""
    if path is None:
        settings = validate(ServiceSettings, default_config(), YamlSource(EMBEDDED))
        return _demo_follows_data_dir(settings)
    data, source = read_yaml_file(Path(path))
    base = Path(source.origin).parent
    return validate(ServiceSettings, resolve_paths(data, ServiceSettings, base), source)


def _demo_follows_data_dir(settings: ServiceSettings) -> ServiceSettings:
    """The embedded demo bed plays the video in data_dir, also when data_dir comes from the environment."""
    wanted = demo_video_path(settings.data_dir)
    bed = settings.beds[0]
    if bed.source.type == "video" and bed.source.path != wanted:
        source = bed.source.model_copy(update={"path": wanted})
        settings.beds[0] = bed.model_copy(update={"source": source})
    return settings


def require_tls_files(settings: ServiceSettings) -> None:
    """A missing certificate or key is one error naming its absolute path, before anything starts."""
    for key in ("tls_certfile", "tls_keyfile"):
        path = getattr(settings.server, key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"server.{key}: {path}: file not found")


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file (for commands that read one section of a service config)."""
    return read_yaml_file(Path(path))[0]


def format_errors(exc: ValidationError, model: type[BaseModel] | None = None, origin: str = "") -> str:
    """The problem lines of a ValidationError of `model` (callers that validate one section themselves; without
    the model class the key paths are still named, only the suggestions are missing)."""
    return "\n".join(f"  - {p}" for p in config_error(exc, model, YamlSource(origin), "configuration").problems)

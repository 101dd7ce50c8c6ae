"""Reading the config: a YAML file (or the embedded demo default) validated into ServiceSettings.

Every problem becomes one UserError naming the file and the key path (e.g. `beds[0].source.path`), so
`painwatch serve --config bad.yaml` exits 2 with a message a person can act on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from service.config.settings import ServiceSettings, default_data_dir, settings_from_dict
from service.errors import UserError

logger = logging.getLogger(__name__)

DEMO_BED_ID = "demo-1"
DEMO_VIDEO_NAME = "synthetic-demo.mp4"


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
    source = str(path) if path is not None else "embedded default configuration"
    data = read_yaml(Path(path)) if path is not None else default_config()
    try:
        return settings_from_dict(data)
    except ValidationError as exc:
        raise UserError(f"{source}: invalid configuration:\n{format_errors(exc)}") from exc


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: configuration file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: the configuration must be a mapping of keys (beds, model, ...)")
    return data


def format_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = key_path(error["loc"])
        if error["type"] == "extra_forbidden":
            lines.append(f"  - {where}: unknown key")
        else:
            lines.append(f"  - {where}: {error['msg']}")
    return "\n".join(lines)


def key_path(loc: tuple[int | str, ...]) -> str:
    """('beds', 0, 'video', 'path') -> 'beds[0].source.path' style; union tags (source type) are dropped."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("video", "camera", "realsense") and text.endswith("source"):
            continue  # pydantic inserts the discriminator value into the path
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"

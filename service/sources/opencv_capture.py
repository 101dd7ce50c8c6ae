"""What the OpenCV-based sources share: decoding one frame into RGB at the edge."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np


def read_rgb(capture: cv2.VideoCapture) -> np.ndarray | None:
    """The next decoded frame as RGB uint8, or None when the capture has nothing more (end or failure)."""
    ok, bgr = capture.read()
    if not ok or bgr is None:
        return None
    # OpenCV decodes to BGR; everything past the source speaks RGB
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def redact_url(device: int | str) -> str:
    """A device for logs and errors: stream URLs lose any user:password part."""
    if isinstance(device, int):
        return str(device)
    parts = urlsplit(device)
    if parts.hostname and (parts.username or parts.password):
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, f"***@{host}", parts.path, "", ""))
    return device

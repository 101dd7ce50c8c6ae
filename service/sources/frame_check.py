"""Recognise garbage frames before they reach face detection."""

from __future__ import annotations

import numpy as np

from service.sources.base import Frame


def frame_problem(frame: object) -> str | None:
    """Why `frame` is not a usable RGB frame, or None when it is.

    An all-constant image (lens covered, lights off) is a real frame, not garbage: the detector reports
    no face for it, which is the honest answer.
    """
    if not isinstance(frame, Frame):
        return f"not a Frame but {type(frame).__name__}"
    rgb = frame.rgb
    if not isinstance(rgb, np.ndarray):
        return f"pixels are {type(rgb).__name__}, not a numpy array"
    if rgb.dtype != np.uint8:
        return f"pixels are {rgb.dtype}, not uint8"
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        return f"pixel array has shape {rgb.shape}, not (H, W, 3)"
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        return f"empty image {rgb.shape}"
    return None

"""Pain cues drawn at the face keypoints: moved to `service.synthetic.cues` so the bedside service's scripted demo
video draws them with the same function as the cohort (the service never imports `training`); re-exported here."""

from service.synthetic.cues import (
    CUE_DRAWERS,
    CUES,
    MOUTH_CUES,
    Colour,
    draw_brow_bulge,
    draw_cues,
    draw_eye_squeeze,
    draw_nasolabial_furrow,
    draw_open_mouth,
    draw_pacifier,
)

__all__ = [
    "CUES",
    "CUE_DRAWERS",
    "MOUTH_CUES",
    "Colour",
    "draw_brow_bulge",
    "draw_cues",
    "draw_eye_squeeze",
    "draw_nasolabial_furrow",
    "draw_open_mouth",
    "draw_pacifier",
]

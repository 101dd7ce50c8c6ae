"""Alert thresholds and timers (configurable globally and per bed).

Defaults, and why:
- Enter/exit levels with hysteresis: DAN opens at 3 (expression lasting 1/3-2/3 of the window) and closes below 2
  (calm face: DAN never estimates 1); FLACC opens at 2 (frequent/constant grimace) and closes below 1 (relaxed).
  A band between enter and exit keeps a score hovering at a boundary from opening and closing alerts in turn.
- `open_after_s` 20 s: the score is already a 30 s window estimate; 20 s more filters transient grimaces
  (handling, a sneeze) that nurses would find useless, while still alerting within about a minute of onset.
- `close_after_s` 60 s: calm must last a minute before an episode ends, so one episode is one alert and not a
  train of reopenings (every new alarm costs attention).
- `high_after_s` 60 s: the top score (DAN 4, FLACC 2) for a full minute raises the episode to high priority.
- `escalate_after_s` 300 s: an alert nobody acknowledged in 5 minutes is raised one priority level.
- Technical alerts: `no_signal` after 30 s (a camera unplugged is worth knowing soon), `no_face` after 120 s
  (infants turn away and nurses cover the face during care; only a long absence matters), `model_error` after 10 s,
  `stale` (no analysis result at all: a dead or hung worker) after 10 s.
- Technical alerts stay open at least `technical_min_on_s` and close only after their condition has been clear for
  `technical_min_off_s` (both 10 s); interruptions shorter than that do not restart the opening count either. So a
  flickering camera gives one alert, not fifty, and a camera that is mostly dark still alarms.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from service.aggregation import Scale

DEFAULT_LEVELS: dict[Scale, tuple[int, int, int]] = {Scale.DAN: (3, 2, 4), Scale.FLACC: (2, 1, 2)}
"""Per scale: (enter, exit, top) estimated facial score."""


class AlertParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="False: this bed never raises alerts (scores still recorded).")
    enter_score: int | None = Field(
        default=None, ge=1, le=4, description="Score at or above which an episode may open (null: DAN 3, FLACC 2)."
    )
    exit_score: int | None = Field(
        default=None, ge=0, le=4, description="Score below which an episode may close (null: DAN 2, FLACC 1)."
    )
    top_score: int | None = Field(
        default=None, ge=1, le=4, description="Score that raises an episode to high priority (null: DAN 4, FLACC 2)."
    )
    open_after_s: float = Field(default=20.0, ge=0, description="Score >= enter this long (with evidence) opens.")
    close_after_s: float = Field(default=60.0, ge=0, description="Score < exit this long (with evidence) closes.")
    high_after_s: float = Field(default=60.0, ge=0, description="Top score this long raises an episode to high.")
    escalate_after_s: float = Field(
        default=300.0, gt=0, description="An unacknowledged alert is raised one priority level after this long."
    )
    no_signal_after_s: float = Field(default=30.0, ge=0, description="no_signal this long opens a technical alert.")
    no_face_after_s: float = Field(default=120.0, ge=0, description="no_face this long opens a technical alert.")
    model_error_after_s: float = Field(default=10.0, ge=0, description="model_error this long opens a technical alert.")
    stale_after_s: float = Field(
        default=10.0,
        ge=0,
        description="No analysis result (stale: worker dead or hung) this long opens a technical alert.",
    )
    technical_min_on_s: float = Field(
        default=10.0, ge=0, description="A technical alert stays open at least this long (no flapping)."
    )
    technical_min_off_s: float = Field(
        default=10.0,
        ge=0,
        description="A technical condition must be clear this long to close its alert; shorter clear spells neither "
        "close it nor restart the opening count.",
    )
    pause_default_minutes: float = Field(default=30.0, gt=0, description="Pause length when none is given.")
    pause_max_minutes: float = Field(default=120.0, gt=0, description="Longest pause; alerts always come back.")

    def levels(self, scale: Scale) -> tuple[int, int, int]:
        """(enter, exit, top) for this scale, configured values first."""
        enter, exit_, top = DEFAULT_LEVELS[scale]
        return (
            self.enter_score if self.enter_score is not None else enter,
            self.exit_score if self.exit_score is not None else exit_,
            self.top_score if self.top_score is not None else top,
        )

"""Per-video cue timelines and the DAN scores that follow from them (the cohort's ground truth).

DAN facial item (thesis Table 1.1): the fraction f of the observation window showing the pain expression
gives 0 when f == 0, 2 when 0 < f < 1/3, 3 when 1/3 <= f <= 2/3, 4 when f > 2/3 (1 is never produced here).
Limbs and vocal items are synthetic: plausible values drawn to correlate with the face score, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.aggregation.scales import Scale, ScaleRules, estimate_face_score
from service.evaluation.truth import CueSpan
from service.synthetic.faces import Identity
from training.data.synth.cues import CUES, MOUTH_CUES

WINDOW_MARGIN_S = 1.0
"""The observation window leaves this much video before and after it (so window columns are exercised)."""
TARGET_FRACTIONS: dict[int, tuple[float, float]] = {2: (0.12, 0.25), 3: (0.42, 0.58), 4: (0.78, 0.92)}
"""Pain-time fractions drawn per score, well inside the rule's bands so frame rounding cannot cross one."""
MIN_EPISODE_S = 0.8
LIMB_CHOICES: dict[int, tuple[int, ...]] = {0: (0, 0, 1), 2: (1, 1, 2), 3: (1, 2, 2), 4: (2, 3, 3)}
VOCAL_CHOICES: dict[int, tuple[int, ...]] = {0: (0,), 2: (1, 1, 2), 3: (1, 2, 2), 4: (2, 3)}


def dan_face_score(fraction: float) -> int:
    """The DAN facial item for the fraction of the window with the pain expression: the bedside service's own
    rule with its default thresholds, so the cohort's ground truth and the live estimate cannot drift apart."""
    return estimate_face_score(Scale.DAN, fraction, ScaleRules()) or 0  # None only for an unknown fraction


@dataclass(frozen=True)
class RaterScore:
    rater: str
    face: int
    limbs: int
    vocal: int


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    identity: Identity
    number: int
    """1-based index of the video among the infant's videos."""
    path: str
    """Relative to the cohort folder."""
    seconds: float
    fps: int
    window_start_s: float
    window_end_s: float
    pacifier: bool
    segments: tuple[CueSpan, ...]
    ratings: tuple[RaterScore, ...]

    @property
    def frame_count(self) -> int:
        return round(self.seconds * self.fps)

    def segment_at(self, t: float) -> CueSpan | None:
        for segment in self.segments:
            if segment.start_s <= t < segment.end_s:
                return segment
        return None


def pain_fraction(segments: tuple[CueSpan, ...], window_start_s: float, window_end_s: float) -> float:
    """Fraction of the window covered by cue segments (segments never overlap)."""
    covered = sum(max(0.0, min(s.end_s, window_end_s) - max(s.start_s, window_start_s)) for s in segments)
    return covered / (window_end_s - window_start_s)


def video_scores(identity_index: int, seed: int) -> tuple[int, ...]:
    """Most infants get one calm and one pain video; every fifth gets two pain videos instead."""
    cycle = (2, 3, 4)
    first = cycle[(identity_index + seed) % 3]
    if identity_index % 5 == 4:
        return (first, cycle[(identity_index + seed + 1) % 3])
    return (0, first)


def plan_videos(identities: list[Identity], seed: int, seconds: float, fps: int) -> list[VideoPlan]:
    plans = []
    for identity in identities:
        for number, score in enumerate(video_scores(identity.index, seed), start=1):
            rng = np.random.default_rng([seed, 2, identity.index, number])
            plans.append(_plan_one(identity, number, score, seconds, fps, rng))
    return plans


def _plan_one(
    identity: Identity, number: int, score: int, seconds: float, fps: int, rng: np.random.Generator
) -> VideoPlan:
    stem = f"synthetic_{identity.slug}_{number}"
    window = (WINDOW_MARGIN_S, seconds - WINDOW_MARGIN_S)
    pacifier = identity.uses_pacifier and bool(rng.random() < 0.7)
    segments = _segments_for(score, window, fps, pacifier, rng) if score else ()
    actual = dan_face_score(pain_fraction(segments, *window))
    if actual != score:  # cannot happen with the margins in TARGET_FRACTIONS; guards the ground truth
        raise AssertionError(f"{stem}: planned DAN face {score} but the timeline gives {actual}")
    return VideoPlan(
        video_id=stem,
        identity=identity,
        number=number,
        path=f"videos/{stem}.mp4",
        seconds=seconds,
        fps=fps,
        window_start_s=window[0],
        window_end_s=window[1],
        pacifier=pacifier,
        segments=segments,
        ratings=_ratings(score, number, identity.index, rng),
    )


def _segments_for(
    score: int, window: tuple[float, float], fps: int, pacifier: bool, rng: np.random.Generator
) -> tuple[CueSpan, ...]:
    """1-3 pain episodes covering the target fraction, laid out with random gaps, snapped to frame times."""
    low, high = TARGET_FRACTIONS[score]
    length = window[1] - window[0]
    pain_total = rng.uniform(low, high) * length
    # Episodes last at least ~MIN_EPISODE_S; concentrated Dirichlet splits avoid one-frame flickers.
    episodes = int(rng.integers(1, max(1, min(3, int(pain_total / MIN_EPISODE_S))) + 1))
    pains = rng.dirichlet(np.full(episodes, 4.0)) * pain_total
    gaps = rng.dirichlet(np.full(episodes + 1, 4.0)) * (length - pain_total)
    available = tuple(c for c in CUES if not (pacifier and c in MOUTH_CUES))
    segments, cursor = [], window[0]
    for pain, gap in zip(pains, gaps[:-1], strict=True):
        start = _snap(cursor + gap, fps)
        end = _snap(cursor + gap + pain, fps)
        cursor += gap + pain
        if end <= start:
            continue
        size = int(rng.integers(2, len(available) + 1))
        chosen = tuple(sorted(rng.choice(len(available), size=size, replace=False)))
        cues = tuple(available[i] for i in chosen)
        segments.append(CueSpan(start, end, cues, float(rng.uniform(0.8, 1.0))))
    return tuple(segments)


def _snap(t: float, fps: int) -> float:
    return round(t * fps) / fps


def _ratings(score: int, number: int, identity_index: int, rng: np.random.Generator) -> tuple[RaterScore, ...]:
    first = RaterScore(
        rater="synthetic-rater-1",
        face=score,
        limbs=int(rng.choice(LIMB_CHOICES[score])),
        vocal=int(rng.choice(VOCAL_CHOICES[score])),
    )
    # A second, milder rater on some strong-pain videos exercises aggregation (DAN face = max over raters).
    if score >= 3 and (identity_index + number) % 2 == 0:
        second = RaterScore(
            rater="synthetic-rater-2",
            face=score - 1,
            limbs=max(0, first.limbs - 1),
            vocal=max(0, first.vocal - int(rng.integers(0, 2))),
        )
        return (first, second)
    return (first,)

"""Clinical pain scales used to annotate the videos: DAN (newborns) and FLACC (2 months - 7 years).

DAN (Carbajal 1997; thesis Table 1.1): face 0-4, limbs 0-3, vocal 0-3, total 0-10, pain when total >= 3.
The facial item rates how long the pain expression lasts in the observation period P:
2 = < 1/3 P, 3 = 1/3 - 2/3 P, 4 = > 2/3 P; 1 is a whimper, not a facial expression.
FLACC (Merkel 1997; thesis Table 1.2): face, legs, activity, cry, consolability, each 0-2, total 0-10.
Its face item: 1 = occasional grimace, 2 = frequent to constant.

Items may be unscored (None), as VideoDol left cry and consolability; the total then counts scored items.

Which scale a bed or a video uses is the one `Scale` enum (`service/aggregation/scales.py`); this module holds each
scale's items (`ScaleDefinition`), which only the annotation side needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from service.aggregation.scales import Scale


class ScoreError(ValueError):
    """A score outside its item's range, or an item the scale does not have."""


@dataclass(frozen=True)
class Item:
    name: str
    max: int
    min: int = 0

    @property
    def range_text(self) -> str:
        return f"{self.min}-{self.max}"


@dataclass(frozen=True)
class ScaleDefinition:
    """A scale's items and where pain begins."""

    scale: Scale
    items: tuple[Item, ...]
    face_pain_from: int
    """Face-item score from which the facial expression counts as pain (frames labelled `pain`)."""
    total_pain_from: int | None
    """Total from which the assessment means pain, where the scale defines one."""

    @property
    def name(self) -> str:
        return self.scale.value

    @property
    def item_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)

    @property
    def face(self) -> Item:
        return self.item("face")

    def item(self, name: str) -> Item:
        for item in self.items:
            if item.name == name:
                return item
        raise ScoreError(f"{self.name} has no item {name!r}; its items are {', '.join(self.item_names)}")

    def check(self, name: str, value: int) -> int:
        """Return `value` if it is a valid score of item `name`, else raise ScoreError naming both."""
        item = self.item(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScoreError(f"{self.name} {name} score must be a whole number {item.range_text}, got {value!r}")
        if not item.min <= value <= item.max:
            raise ScoreError(f"{self.name} {name} score {value} is outside its range {item.range_text}")
        return value


DAN = ScaleDefinition(
    scale=Scale.DAN,
    items=(Item("face", 4), Item("limbs", 3), Item("vocal", 3)),
    face_pain_from=2,
    total_pain_from=3,
)
FLACC = ScaleDefinition(
    scale=Scale.FLACC,
    items=(Item("face", 2), Item("legs", 2), Item("activity", 2), Item("cry", 2), Item("consolability", 2)),
    face_pain_from=2,
    total_pain_from=None,  # FLACC grades intensity (0 relaxed, 1-3 mild, 4-6 moderate, 7-10 severe), no cut-off
)
DEFINITIONS: dict[Scale, ScaleDefinition] = {DAN.scale: DAN, FLACC.scale: FLACC}


def definition_of(name: str) -> ScaleDefinition:
    """The definition of the scale named `name` (any case)."""
    try:
        return DEFINITIONS[Scale(name.strip().upper())]
    except ValueError:
        raise ScoreError(f"unknown scale {name!r}; use one of: {', '.join(DEFINITIONS)}") from None


@dataclass(frozen=True)
class Assessment:
    """One rater's scores on one scale; unscored items are None. Validated on construction."""

    scale: ScaleDefinition
    scores: Mapping[str, int | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in self.scores.items():
            if value is not None:
                self.scale.check(name, value)
        missing = [n for n in self.scale.item_names if n not in self.scores]
        if missing:
            object.__setattr__(self, "scores", {**self.scores, **dict.fromkeys(missing)})

    @property
    def face(self) -> int | None:
        return self.scores["face"]

    @property
    def total(self) -> int:
        """Sum of the scored items (unscored items count as not observed)."""
        return sum(v for v in self.scores.values() if v is not None)

    @property
    def complete(self) -> bool:
        return all(v is not None for v in self.scores.values())

    @property
    def total_means_pain(self) -> bool | None:
        """DAN: total >= 3. None where the scale has no cut-off."""
        if self.scale.total_pain_from is None:
            return None
        return self.total >= self.scale.total_pain_from


@dataclass(frozen=True)
class DanScore(Assessment):
    """DAN assessment: `DanScore.of(face=2, limbs=1, vocal=0)`."""

    SCALE: ClassVar[ScaleDefinition] = DAN

    @classmethod
    def of(cls, **scores: int | None) -> DanScore:
        return cls(DAN, scores)


@dataclass(frozen=True)
class FlaccScore(Assessment):
    """FLACC assessment: `FlaccScore.of(face=1, legs=0, activity=0, cry=None, consolability=None)`."""

    SCALE: ClassVar[ScaleDefinition] = FLACC

    @classmethod
    def of(cls, **scores: int | None) -> FlaccScore:
        return cls(FLACC, scores)


def face_is_pain(scale: ScaleDefinition, face: int) -> bool:
    """Whether a face-item score means a pain expression (DAN >= 2, FLACC == 2)."""
    return scale.check("face", face) >= scale.face_pain_from

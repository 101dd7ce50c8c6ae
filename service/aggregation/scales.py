"""Mapping the window's pain fraction to the facial item of the bed's clinical scale.

A frame probability is not a clinical score (docs/architecture.md, "Meaning of a value"). Both scales rate the facial
expression by how much of the observation period it lasts, so the service measures exactly that: the
fraction of the face-visible time in the window whose frames were classed pain, then applies the scale's rule.

- DAN (newborns; Carbajal 1997, thesis Table 1.1), face item 0-4: calm -> 0; pain expression lasting less
  than 1/3 of the period -> 2; 1/3 to 2/3 -> 3; more than 2/3 -> 4. DAN's face score 1 is "calm face with
  a whimper" (or brief, transient expression changes tied to sound): it is defined by sound/transience, which a
  face-only pain/non-pain classifier cannot observe, so it is never estimated; the estimate jumps 0 -> 2.
- FLACC (2 months - 7 years; Merkel 1997), face item 0-2: no particular expression -> 0; occasional grimace
  or frown -> 1; frequent to constant frown, quivering chin, clenched jaw -> 2. "Frequent" has no number in
  the scale; the default boundary (half the face-visible time) is a documented choice, configurable per site.

Every threshold is a field below, so a unit can align the estimate with how its nurses score.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Scale(StrEnum):
    DAN = "DAN"
    FLACC = "FLACC"


class DanFaceRule(BaseModel):
    """DAN facial item from the pain fraction f: f <= none_max -> 0; f < long_from -> 2; f <= constant_above -> 3;
    else 4."""

    model_config = ConfigDict(extra="forbid")

    none_max: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Pain fraction at or below which the face counts as calm (score 0)."
    )
    long_from: float = Field(
        default=1 / 3,
        gt=0.0,
        lt=1.0,
        description="Pain fraction from which the expression is 'lasting' (score 3, not 2).",
    )
    constant_above: float = Field(
        default=2 / 3, gt=0.0, lt=1.0, description="Pain fraction above which the expression is 'permanent' (score 4)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> DanFaceRule:
        if not self.none_max < self.long_from <= self.constant_above:
            raise ValueError("DAN thresholds must satisfy none_max < long_from <= constant_above")
        return self


class FlaccFaceRule(BaseModel):
    """FLACC face item from the pain fraction f: f <= none_max -> 0; f < frequent_from -> 1; else 2."""

    model_config = ConfigDict(extra="forbid")

    none_max: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Pain fraction at or below which the face counts as relaxed (score 0)."
    )
    frequent_from: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Pain fraction from which the grimace is 'frequent to constant' (score 2) rather than "
        "'occasional' (score 1). The scale gives no number; 0.5 is this service's default.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> FlaccFaceRule:
        if not self.none_max < self.frequent_from:
            raise ValueError("FLACC thresholds must satisfy none_max < frequent_from")
        return self


class ScaleRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dan: DanFaceRule = Field(default_factory=lambda: DanFaceRule(), description="DAN facial-item thresholds.")
    flacc: FlaccFaceRule = Field(default_factory=lambda: FlaccFaceRule(), description="FLACC facial-item thresholds.")


def estimate_face_score(scale: Scale, pain_fraction: float | None, rules: ScaleRules) -> int | None:
    """The facial item the scale's rule gives for this pain fraction; None when nothing was seen."""
    if pain_fraction is None:
        return None
    if scale is Scale.DAN:
        dan = rules.dan
        if pain_fraction <= dan.none_max:
            return 0
        if pain_fraction < dan.long_from:
            return 2
        return 3 if pain_fraction <= dan.constant_above else 4
    flacc = rules.flacc
    if pain_fraction <= flacc.none_max:
        return 0
    return 1 if pain_fraction < flacc.frequent_from else 2

"""Cue timelines and DAN scores of the synthetic cohort (no rendering, no detector)."""

from __future__ import annotations

import pytest

from service.evaluation.truth import CueSpan
from service.synthetic.faces import make_identities
from training.data.synth.cues import MOUTH_CUES
from training.data.synth.timeline import dan_face_score, pain_fraction, plan_videos


@pytest.mark.parametrize(
    ("fraction", "score"),
    [(0.0, 0), (0.01, 2), (0.33, 2), (1 / 3, 3), (0.5, 3), (2 / 3, 3), (0.67, 4), (1.0, 4)],
)
def test_dan_face_rule_follows_thesis_table_1_1(fraction: float, score: int) -> None:
    assert dan_face_score(fraction) == score


def test_pain_fraction_counts_only_the_window() -> None:
    segments = (CueSpan(0.0, 2.0, ("brow_bulge",), 1.0), CueSpan(5.0, 6.0, ("open_mouth",), 1.0))
    assert pain_fraction(segments, 1.0, 11.0) == pytest.approx(0.2)


def test_planned_videos_match_their_scores_and_mix_calm_and_pain() -> None:
    identities = make_identities(12, seed=5)
    plans = plan_videos(identities, seed=5, seconds=12.0, fps=10)
    scores = [p.ratings[0].face for p in plans]
    assert set(scores) == {0, 2, 3, 4}
    for plan in plans:
        fraction = pain_fraction(plan.segments, plan.window_start_s, plan.window_end_s)
        assert dan_face_score(fraction) == max(r.face for r in plan.ratings)
        assert all(plan.window_start_s <= s.start_s < s.end_s <= plan.window_end_s for s in plan.segments)
        assert all(len(s.cues) >= 2 for s in plan.segments)
        if plan.pacifier:  # a pacifier hides the mouth: no open-mouth cue under it
            assert not any(MOUTH_CUES & set(s.cues) for s in plan.segments)
    calm_and_pain = sum(1 for i in identities if {0} < {p.ratings[0].face for p in plans if p.identity == i})
    assert calm_and_pain >= len(identities) * 2 // 3
    second_raters = [p for p in plans if len(p.ratings) > 1]
    assert second_raters
    assert all(p.ratings[1].face < p.ratings[0].face for p in second_raters)


def test_identities_are_distinct_and_named_synthetic() -> None:
    identities = make_identities(14, seed=0)
    assert len({i.infant_id for i in identities}) == 14
    assert all(i.infant_id.startswith("synthetic-infant-") for i in identities)
    looks = {(i.base, i.mirrored, i.skin_gain, i.hat_colour, i.background_colours) for i in identities}
    assert len(looks) == 14
    assert make_identities(14, seed=0) == identities

import pytest

from training.data.scales import DAN, FLACC, DanScore, FlaccScore, ScoreError, definition_of, face_is_pain


def test_dan_items_ranges_and_total() -> None:
    assert [(i.name, i.min, i.max) for i in DAN.items] == [("face", 0, 4), ("limbs", 0, 3), ("vocal", 0, 3)]
    score = DanScore.of(face=4, limbs=3, vocal=3)
    assert score.total == 10
    assert score.total_means_pain is True
    assert DanScore.of(face=1, limbs=1, vocal=0).total_means_pain is False
    assert DanScore.of(face=2, limbs=1, vocal=0).total_means_pain is True  # total 3 is the cut-off


def test_flacc_items_and_unscored_items() -> None:
    assert FLACC.item_names == ("face", "legs", "activity", "cry", "consolability")
    assert all(i.max == 2 for i in FLACC.items)
    score = FlaccScore.of(face=2, legs=1, activity=1)  # VideoDol: cry, consolability not scored
    assert score.scores["cry"] is None and score.scores["consolability"] is None
    assert score.total == 4
    assert not score.complete
    assert score.total_means_pain is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DanScore.of(face=5), "DAN face score 5 is outside its range 0-4"),
        (lambda: DanScore.of(face=1, limbs=4), "DAN limbs score 4 is outside its range 0-3"),
        (lambda: FlaccScore.of(face=0, cry=3), "FLACC cry score 3 is outside its range 0-2"),
        (lambda: DanScore.of(face=-1), "DAN face score -1 is outside its range 0-4"),
        (lambda: DanScore.of(face=1, legs=1), "DAN has no item 'legs'"),
    ],
)
def test_out_of_range_names_item_and_range(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ScoreError, match=message):
        make()


def test_face_pain_boundaries() -> None:
    assert [face_is_pain(DAN, f) for f in range(5)] == [False, False, True, True, True]
    assert [face_is_pain(FLACC, f) for f in range(3)] == [False, False, True]


def test_definition_of_is_case_insensitive_and_rejects_unknown() -> None:
    assert definition_of("dan") is DAN
    with pytest.raises(ScoreError, match="unknown scale 'NIPS'; use one of: DAN, FLACC"):
        definition_of("NIPS")

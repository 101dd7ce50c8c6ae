"""Rendering with the real detector: cues sit where MediaPipe finds the face features, masks on the face."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from service.synthetic.faces import HeadSprite, Identity, detect_base_photos, make_identities, render_head
from service.synthetic.poses import still_pose
from service.synthetic.scene import CUE_BITS, compose_frame, cue_labels_of, cue_masks_from_labels, make_background
from service.vision.detectors import FaceDetector, best_face, create_detector
from training.data.synth.cues import CUES
from training.data.synth.geometry import Keypoints


@pytest.fixture(scope="module")
def detector() -> Iterator[FaceDetector]:
    det = create_detector("mediapipe-short", mode="image")
    yield det
    det.close()


@pytest.fixture(scope="module")
def heads(detector: FaceDetector) -> list[tuple[Identity, HeadSprite]]:
    bases = detect_base_photos(detector)
    return [(i, render_head(bases[i.base], i)) for i in make_identities(12, seed=0)]


def test_mirroring_swaps_the_subjects_left_and_right() -> None:
    kp = Keypoints(np.array([[10, 20], [30, 20], [20, 30], [20, 40], [5, 25], [35, 25]], float))
    mirrored = kp.mirrored(100)
    assert mirrored.right_eye.tolist() == [69.0, 20.0]
    assert mirrored.left_eye.tolist() == [89.0, 20.0]
    assert mirrored.points[4].tolist() == [64.0, 25.0]


def test_keypoints_follow_the_face_through_warp_and_pose(
    detector: FaceDetector, heads: list[tuple[Identity, HeadSprite]]
) -> None:
    rng = np.random.default_rng(7)
    for identity, sprite in heads:
        frame = compose_frame(make_background(identity), sprite, identity, still_pose(identity, rng))
        face = best_face(detector.detect(frame.rgb))
        assert face is not None, identity.infant_id
        detected = np.asarray(face.keypoints[:4])
        error = np.linalg.norm(detected - frame.keypoints.points[:4], axis=1) / frame.keypoints.eye_distance
        assert error.max() < 0.25, (identity.infant_id, error)  # eyes, nose, mouth within a quarter eye-distance


def test_every_cue_mask_lies_on_the_face(detector: FaceDetector, heads: list[tuple[Identity, HeadSprite]]) -> None:
    rng = np.random.default_rng(11)
    for identity, sprite in heads[:6]:
        pose = still_pose(identity, rng)
        plain = compose_frame(make_background(identity), sprite, identity, pose)
        face = best_face(detector.detect(plain.rgb))
        assert face is not None
        grow = 0.15 * max(face.w, face.h)  # brows sit on the top edge of MediaPipe's box
        for cue in CUES:
            drawn = compose_frame(make_background(identity), sprite, identity, pose, (cue,))
            ys, xs = np.nonzero(drawn.cue_mask)
            assert xs.size > 0, cue
            assert xs.min() >= face.x - grow and xs.max() <= face.x + face.w + grow, cue
            assert ys.min() >= face.y - grow and ys.max() <= face.y + face.h + grow, cue
            changed = np.any(drawn.rgb != plain.rgb, axis=2)
            assert changed[drawn.cue_mask > 0].mean() > 0.5, cue  # the mask marks pixels the cue painted
            assert not changed[drawn.cue_mask == 0].any(), cue  # and nothing was painted outside it


def test_pacifier_hides_the_mouth_from_the_mask(heads: list[tuple[Identity, HeadSprite]]) -> None:
    identity, sprite = heads[0]
    pose = still_pose(identity, np.random.default_rng(3))
    bare = compose_frame(make_background(identity), sprite, identity, pose, ("nasolabial_furrow",))
    covered = compose_frame(make_background(identity), sprite, identity, pose, ("nasolabial_furrow",), pacifier=True)
    assert 0 < (covered.cue_mask > 0).sum() < (bare.cue_mask > 0).sum()


def test_cue_labels_mark_each_cue_with_its_own_bit(heads: list[tuple[Identity, HeadSprite]]) -> None:
    identity, sprite = heads[1]
    pose = still_pose(identity, np.random.default_rng(5))
    background = make_background(identity)
    both = compose_frame(background, sprite, identity, pose, ("brow_bulge", "open_mouth"))
    assert both.cue_labels is not None
    masks = cue_masks_from_labels(both.cue_labels)
    assert set(masks) == set(CUES) and not masks["eye_squeeze"].any() and not masks["nasolabial_furrow"].any()
    np.testing.assert_array_equal(both.cue_labels > 0, both.cue_mask > 0)
    for cue in ("brow_bulge", "open_mouth"):
        alone = compose_frame(background, sprite, identity, pose, (cue,))
        np.testing.assert_array_equal(masks[cue], alone.cue_mask > 0)  # each bit is exactly that cue's pixels
        assert (alone.cue_labels == CUE_BITS[cue]).sum() == (alone.cue_mask > 0).sum()
    brow_y, mouth_y = (np.nonzero(masks[c])[0].mean() for c in ("brow_bulge", "open_mouth"))
    assert brow_y < mouth_y
    assert cue_labels_of({}, (4, 4)).sum() == 0

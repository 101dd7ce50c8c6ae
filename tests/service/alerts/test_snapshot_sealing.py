"""Snapshot images encrypted at rest: the writer seals them, readers open them, keys rotate, a wrong key is named."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from cryptography.fernet import Fernet

from service.alerts.snapshots.sealing import (
    KEYS_ENV,
    Keyring,
    is_sealed,
    new_key_file,
    read_snapshot_file,
    rotate_folder,
    write_snapshot_file,
)
from service.errors import UserError
from service.vision.jpeg import encode_jpeg


def a_jpeg() -> bytes:
    image = np.zeros((224, 224, 3), np.uint8)
    image[50:150, 60:160] = (200, 120, 90)
    return encode_jpeg(image, 90)


def test_images_are_sealed_at_rest_and_read_back_decrypted(tmp_path: Path) -> None:
    new_key_file(tmp_path / "keys")
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o600
    keyring = Keyring.load(tmp_path / "keys")
    assert keyring is not None
    original = a_jpeg()
    write_snapshot_file(tmp_path / "snapshots" / "a1" / "crop.jpg", original, keyring)
    stored = (tmp_path / "snapshots" / "a1" / "crop.jpg").read_bytes()
    assert is_sealed(stored) and original not in stored
    assert cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR) is None  # not an image on disk
    assert read_snapshot_file(tmp_path / "snapshots" / "a1" / "crop.jpg", keyring) == original
    with pytest.raises(UserError, match="crop.jpg: encrypted, and no snapshot key is configured"):
        read_snapshot_file(tmp_path / "snapshots" / "a1" / "crop.jpg", None)
    plain = tmp_path / "old.jpg"
    plain.write_bytes(original)  # written before encryption was switched on
    assert read_snapshot_file(plain, keyring) == original
    with pytest.raises(UserError, match="exists; to rotate"):
        new_key_file(tmp_path / "keys")


def test_rotation_re_encrypts_with_the_new_key_and_old_keys_can_then_go(tmp_path: Path) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    (tmp_path / "keys").write_text(old_key + "\n")
    old = Keyring.load(tmp_path / "keys")
    crop, cam = a_jpeg(), io.BytesIO()
    np.save(cam, np.eye(14, dtype=np.float32))
    write_snapshot_file(tmp_path / "snapshots" / "a1" / "crop.jpg", crop, old)
    write_snapshot_file(tmp_path / "snapshots" / "a1" / "gradcam.npy", cam.getvalue(), old)
    (tmp_path / "keys").write_text(f"{new_key}\n{old_key}\n")  # new first, old kept
    assert rotate_folder(tmp_path / "snapshots", Keyring.load(tmp_path / "keys")) == 2  # type: ignore[arg-type]
    (tmp_path / "keys").write_text(new_key + "\n")  # the old key removed
    only_new = Keyring.load(tmp_path / "keys")
    assert read_snapshot_file(tmp_path / "snapshots" / "a1" / "crop.jpg", only_new) == crop
    loaded = np.load(io.BytesIO(read_snapshot_file(tmp_path / "snapshots" / "a1" / "gradcam.npy", only_new)))
    np.testing.assert_array_equal(loaded, np.eye(14, dtype=np.float32))
    with pytest.raises(UserError, match="no key from other opens it"):
        read_snapshot_file(tmp_path / "snapshots" / "a1" / "crop.jpg", Keyring([Fernet.generate_key()], "other"))


def test_keys_from_the_environment_win_and_bad_keys_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Keyring.load(None) is None
    monkeypatch.setenv(KEYS_ENV, Fernet.generate_key().decode())
    assert Keyring.load(tmp_path / "absent") is not None and Keyring.load(None) is not None
    monkeypatch.setenv(KEYS_ENV, "not-a-key")
    with pytest.raises(UserError, match="PAINWATCH_SNAPSHOT_KEYS: not Fernet keys"):
        Keyring.load(None)
    monkeypatch.delenv(KEYS_ENV)
    with pytest.raises(UserError, match="snapshots.key_file: cannot read .*absent"):
        Keyring.load(tmp_path / "absent")

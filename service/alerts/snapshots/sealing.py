"""Review-snapshot images encrypted at rest (infant faces are health data), with keys that can be rotated.

The key file (`snapshots.key_file`, or the environment variable PAINWATCH_SNAPSHOT_KEYS holding the same text) holds
one Fernet key per line (`painwatch data snapshot-key FILE` writes a new one): the first line encrypts new files,
every line can decrypt. Rotation: put a new key on the first line, keep the old ones below, run
`painwatch data rotate-snapshots --store DIR` (re-encrypts every image with the first key), then remove the old lines.
Encrypted files keep their names; a file written before encryption was switched on still reads (plain JPEG/NPY).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.errors import UserError
from service.files import atomic_path

KEYS_ENV: Final = "PAINWATCH_SNAPSHOT_KEYS"
_FERNET_PREFIX: Final = b"gAAAAA"
"""Every Fernet token starts with these bytes (version 0x80 + timestamp, base64): plain JPEG and NPY files never do."""


class Keyring:
    def __init__(self, keys: list[bytes], source: str) -> None:
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as exc:
            raise UserError(f"{source}: not Fernet keys, one per line ({exc}); make one with `painwatch data "
                            "snapshot-key FILE`") from exc  # fmt: skip
        self.source = source

    @classmethod
    def load(cls, key_file: Path | None) -> Keyring | None:
        """The keys from the environment, else from `key_file`; None when neither is set (no encryption)."""
        text, source = os.environ.get(KEYS_ENV), KEYS_ENV
        if text is None and key_file is not None:
            try:
                text, source = Path(key_file).read_text(encoding="ascii"), str(key_file)
            except OSError as exc:
                raise UserError(f"snapshots.key_file: cannot read {Path(key_file).resolve()} ({exc.strerror})") from exc
        if text is None:
            return None
        keys = [line.strip().encode("ascii") for line in text.splitlines() if line.strip()]
        if not keys:
            raise UserError(f"{source}: no key in it; make one with `painwatch data snapshot-key FILE`")
        return cls(keys, source)

    def seal(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def open(self, data: bytes, what: str) -> bytes:
        try:
            return self._fernet.decrypt(data)
        except InvalidToken as exc:
            raise UserError(f"{what}: no key from {self.source} opens it (a key removed too early?)") from exc

    def rotate(self, data: bytes) -> bytes:
        return self._fernet.rotate(data)


def is_sealed(data: bytes) -> bool:
    return data.startswith(_FERNET_PREFIX)


def write_snapshot_file(path: Path, data: bytes, keyring: Keyring | None) -> None:
    """Atomically, encrypted when a keyring is configured."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(keyring.seal(data) if keyring is not None else data)


def read_snapshot_file(path: Path, keyring: Keyring | None) -> bytes:
    """The plain bytes of a snapshot file, decrypting it when it is encrypted."""
    data = Path(path).read_bytes()
    if not is_sealed(data):
        return data
    if keyring is None:
        raise UserError(f"{path}: encrypted, and no snapshot key is configured (snapshots.key_file or {KEYS_ENV})")
    return keyring.open(data, str(path))


def new_key_file(path: Path) -> None:
    """A new key file (0600) holding one fresh key; refuses to overwrite."""
    if path.exists():
        raise UserError(f"{path.resolve()}: exists; to rotate, add a new key as its first line (see --help)")
    with atomic_path(path) as tmp:
        tmp.write_text(Fernet.generate_key().decode("ascii") + "\n", encoding="ascii")
        tmp.chmod(0o600)


def rotate_folder(root: Path, keyring: Keyring) -> int:
    """Re-encrypt every encrypted file under `root` with the first key (plain files are encrypted too)."""
    count = 0
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.suffix in (".jpg", ".npy")):
        data = path.read_bytes()
        with atomic_path(path) as tmp:
            tmp.write_bytes(keyring.rotate(data) if is_sealed(data) else keyring.seal(data))
        count += 1
    return count

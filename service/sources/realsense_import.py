"""Import pyrealsense2 with libusb provided.

pyrealsense2 2.59 links against libusb-1.0 but does not bundle it; without it the import fails. The
`libusb-package` wheel carries the library: loading it with RTLD_GLOBAL before the import lets the
extension resolve it. A system libusb (Debian's libusb-1.0-0) works too and is used when the wheel's
copy is absent.
"""

from __future__ import annotations

import ctypes
import logging
from types import ModuleType

logger = logging.getLogger(__name__)

_loaded = False


def _load_libusb() -> None:
    global _loaded
    if _loaded:
        return
    try:
        import libusb_package

        path = libusb_package.get_library_path()
        if path is not None:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            logger.debug("loaded libusb from %s", path)
    except (ImportError, OSError) as exc:  # fall back to a system libusb
        logger.debug("libusb-package unavailable (%s); relying on a system libusb", exc)
    _loaded = True


def import_pyrealsense2() -> ModuleType:
    """Return the pyrealsense2 module, loading libusb first."""
    _load_libusb()
    import pyrealsense2

    return pyrealsense2

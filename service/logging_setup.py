"""One logging setup for the CLI and the service: concise lines, quiet third-party chatter."""

from __future__ import annotations

import logging
import os


def configure_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # MediaPipe/TFLite/TensorFlow write C++ logs to stderr; keep them to errors unless asked.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for noisy in ("matplotlib", "PIL", "h5py", "absl", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

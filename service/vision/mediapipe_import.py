"""Import MediaPipe without dragging TensorFlow in.

mediapipe's `optional_dependencies` tries `from tensorflow.tools.docs import doc_controls` (only for its API
docs) whenever TensorFlow is installed, which costs ~6 s and breaks the rule that the service and the data
commands never import TensorFlow. Blocking the name for the duration of the import makes that `try` take its
ModuleNotFoundError branch; the block is lifted afterwards so training can still import TensorFlow.
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_mediapipe() -> tuple[ModuleType, ModuleType, ModuleType]:
    """Return (mediapipe, mediapipe.tasks.python, mediapipe.tasks.python.vision)."""
    blocked = "tensorflow" not in sys.modules
    if blocked:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        import mediapipe as mp
        from mediapipe.tasks import python as mp_tasks
        from mediapipe.tasks.python import vision
    finally:
        if blocked:
            del sys.modules["tensorflow"]
    return mp, mp_tasks, vision

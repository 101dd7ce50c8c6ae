"""Synthetic pseudo-infants with pain cues, made from real face photographs (no TensorFlow): the photographs
(`photos`), the infant-like heads (`faces`), their poses (`poses`), frames with cues (`scene`, `cues`). Shared by the
training cohort (`training/data/synth/`) and the bedside service's scripted demo video (`service/demo_video.py`), so
the demo shows the model the same kind of face it was trained on.

SYNTHETIC: drawings on photographs of adults, never an infant's expression; they exercise the pipeline only.
"""

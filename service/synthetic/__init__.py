"""Synthetic pain cues drawn on real face photographs (no TensorFlow): shared by the training cohort
(`training/data/synth/`) and the bedside service's scripted demo video (`service/demo_video.py`).

SYNTHETIC: drawings on photographs of adults, never an infant's expression; they exercise the pipeline only.
"""

"""painwatch online service: capture -> face crop -> ONNX inference with Grad-CAM -> per-bed scores.

Never imports TensorFlow or the `training` package; training imports from here (face crop, preprocessing).
"""

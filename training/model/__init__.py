"""The thesis model, Grad-CAM, checkpoints and ONNX export (TensorFlow side)."""

"""Training configs shipped as package data: `default.yaml` and the thesis experiment presets."""

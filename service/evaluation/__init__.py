"""Offline evaluation of the bedside pipeline on a recording: ground truth (sidecar JSON), a deterministic replay
through the service's own code (detector, crop, model, window score, alert engine), and the metrics."""

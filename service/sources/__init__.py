"""Frame sources for the bedside service (RealSense, video files, cameras)."""

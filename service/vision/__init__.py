"""Face detection, cropping and image I/O: one implementation shared by training and the bedside service."""

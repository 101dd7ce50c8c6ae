"""Face keypoints and point maps: moved to `service.synthetic.geometry` (shared with the service's demo video);
re-exported here so the cohort code keeps its imports."""

from service.synthetic.geometry import FaceFrame, Keypoints, PointMap, affine_points

__all__ = ["FaceFrame", "Keypoints", "PointMap", "affine_points"]

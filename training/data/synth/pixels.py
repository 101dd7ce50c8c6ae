"""Pixel blending: moved to `service.synthetic.pixels` (shared with the service's demo video); re-exported here."""

from service.synthetic.pixels import blend_into

__all__ = ["blend_into"]

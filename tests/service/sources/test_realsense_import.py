from service.sources.realsense_import import import_pyrealsense2


def test_pyrealsense2_imports_with_libusb_from_the_wheel() -> None:
    rs = import_pyrealsense2()
    # the real SDK classes the `realsense` source is built on
    assert hasattr(rs, "pipeline") and hasattr(rs, "config") and hasattr(rs, "software_device")
    assert rs.stream.color is not None and rs.format.rgb8 is not None
    assert isinstance(rs.context().devices.size(), int)  # no camera here: an empty list, not a crash

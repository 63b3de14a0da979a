"""The package version and the tracker version string sent as ``tv``."""

__version__ = "1.2.0.dev0"
TRACKER_VERSION = "py-" + __version__

"""The package version, on the lowest layer so that any module may record it (θ files, replay logs)."""

__version__ = "0.1.0"

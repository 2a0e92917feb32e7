"""marketphys.pipeline: DBN -> bronze -> silver lake (``build``), contracts and the lake layout."""

# Load the submodule first: importing ``marketphys.pipeline.build`` sets the package attribute
# ``build`` to the module the first time it loads, which would shadow the function below if
# that happened later (e.g. ``from marketphys.pipeline.build import build_day`` in another module).
from . import build as _build_module  # noqa: E402,F401


def build(inputs, lake, **kwargs):
    """DBN files/directories -> lake; see ``marketphys.pipeline.build.build``."""
    return _build_module.build(inputs, lake, **kwargs)


__all__ = ["build", "list_dates", "read_partition"]


def __getattr__(name: str):
    """The lake readers load on first use."""
    if name in ("list_dates", "read_partition"):
        from marketphys.pipeline import lake

        return getattr(lake, name)
    raise AttributeError(f"module 'marketphys.pipeline' has no attribute {name!r}")

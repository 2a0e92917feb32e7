"""marketphys.pipeline: DBN -> bronze -> silver lake (``build.build``), contracts and the lake layout.

Stages are listed in ``stages.STAGES``; nothing registers itself at import time, so importing this
package loads nothing else.
"""

__all__ = ["list_dates", "read_partition"]


def __getattr__(name: str):
    """The lake readers load on first use."""
    if name in ("list_dates", "read_partition"):
        from marketphys.pipeline import lake

        return getattr(lake, name)
    raise AttributeError(f"module 'marketphys.pipeline' has no attribute {name!r}")

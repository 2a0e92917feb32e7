"""marketphys.pipeline: DBN -> bronze -> silver lake (``build``), contracts and the lake layout."""


def build(inputs, lake, **kwargs):
    """DBN files/directories -> lake; see ``marketphys.pipeline.build.build``."""
    from .build import build as _build

    return _build(inputs, lake, **kwargs)

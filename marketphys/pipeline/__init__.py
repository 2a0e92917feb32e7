"""marketphys.pipeline: DBN -> bronze -> silver lake (``build.build``), contracts and the lake layout."""

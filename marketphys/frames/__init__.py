"""Lake -> frames, shared by lake replay and live serving (both import from here, never from each other).

``cursors`` reads the lake (window by window, or a whole day), ``assemble`` is the one frame
assembler (per window for live streams, per day for replay), ``sources`` are the frame sources
a session iterates, and ``producers`` the default medium built from the channels frames carry.
"""

from marketphys.frames.assemble import AssembleConfig, FrameAssembler, assemble_day, assemble_frame
from marketphys.frames.cursors import SurfaceCursor, Window, WindowMerger, read_day_tables
from marketphys.frames.producers import GexWallProducer, lake_producers, seed_producers
from marketphys.frames.sources import FrameSource, LakeSource, ListSource, SourceError, StreamSource, as_source

__all__ = ["AssembleConfig", "FrameAssembler", "assemble_day", "assemble_frame", "SurfaceCursor", "Window",
           "WindowMerger", "read_day_tables", "lake_producers", "seed_producers", "GexWallProducer", "FrameSource", "LakeSource",
           "ListSource", "SourceError", "StreamSource", "as_source"]

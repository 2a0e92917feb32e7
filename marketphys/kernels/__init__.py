"""Kernel backends that dispatch shaders/ (DESIGN.md section 3). ``numpy`` is the reference."""

from __future__ import annotations


def available_backends() -> list[tuple[str, bool, str]]:
    """(name, usable, reason) for every backend; extended as backends land."""
    return [("numpy", True, "reference implementation (marketphys.core)")]

"""``marketphys backends``: list kernel backends and whether they work here."""

from __future__ import annotations


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from marketphys.kernels import available_backends

    for name, ok, why in available_backends():
        print(f"{name:10s} {'ok' if ok else 'unavailable'}  {why}")
    return 0

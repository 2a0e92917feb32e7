"""``marketphys backends``: list kernel backends, whether they work here, and what ``auto`` picks."""

from __future__ import annotations


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from marketphys.kernels import available_backends, choose_backend

    for name, ok, why in available_backends():
        print(f"{name:10s} {'ok' if ok else 'unavailable':12s} {why}")
    print(choose_backend()[1])
    return 0

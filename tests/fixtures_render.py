"""Scenes and golden-image comparison for the renderer tests."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from marketphys.render import RenderScene

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
ARTIFACTS = ROOT / "test-artifacts"


def flat_scene(width=320, height=200, n=32, dx=2.0, **kw) -> RenderScene:
    z = np.zeros(2 * n + 1)
    base = dict(U=z, O=z, C=z, G=z, dx=dx, x_hat=np.zeros(4), width=width, height=height)
    base.update(kw)
    return RenderScene(**base)


def rich_scene(width=320, height=200) -> RenderScene:
    n, dx = 32, 2.0
    x = np.arange(-n, n + 1) * dx
    return RenderScene(U=-3 * np.exp(-0.5 * ((x - 16) / 8) ** 2) + np.exp(-0.5 * ((x + 30) / 12) ** 2),
                       O=np.zeros_like(x), C=6 * np.tanh(x / 20), G=3 * np.exp(-0.5 * ((x + 40) / 10) ** 2), dx=dx,
                       wall_center=np.array([40.0, -20.0]), wall_strength=np.array([7.0, 2.0]),
                       wall_width=np.array([4.0, 3.0]), wall_s_max=np.array([10.0, 10.0]),
                       wall_d_strength=np.array([0.9, -0.05]), probe_v=15.0, probe_a=-80.0,
                       x_hat=np.array([2.0, 5.0, 7.0, 8.0]), resolved_pred=np.array([1.0, 3.0, 5.0, 6.0]),
                       resolved_actual=np.array([2.0, 1.0, 9.0, 6.5]), width=width, height=height)


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGBA"))


def write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    Image.fromarray(img).save(tmp)
    os.replace(tmp, path)


def golden_change(old: np.ndarray | None, new: np.ndarray, tol: int = 3) -> str:
    """What an update would change, in one line: new file, shape, or how many pixels and where."""
    if old is None:
        return f"new golden {new.shape[1]}x{new.shape[0]}"
    if old.shape != new.shape:
        return f"shape {old.shape} -> {new.shape}"
    diff = np.abs(old.astype(int) - new.astype(int)).max(axis=2)
    changed = diff > 0
    if not changed.any():
        return "unchanged"
    ys, xs = np.nonzero(changed)
    return (f"{int(changed.sum())} pixels changed ({changed.mean():.4%}; {int((diff > tol).sum())} by > {tol}), "
            f"max channel difference {int(diff.max())}, in x {xs.min()}..{xs.max()}, y {ys.min()}..{ys.max()}")


def update_golden(name: str, img: np.ndarray) -> str:
    """The update switch (MARKETPHYS_UPDATE_GOLDEN=1): refuses in CI, prints what changed, writes the file."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise AssertionError(f"refusing to update golden {name!r} in CI (CI={os.environ['CI']}); "
                             "update goldens locally and commit them")
    path = GOLDEN / f"{name}.png"
    change = golden_change(read_png(path) if path.exists() else None, img)
    msg = f"golden {name}: {change}"
    print(msg)
    warnings.warn(msg, stacklevel=3)
    write_png(path, img)
    return change


def assert_matches_golden(name: str, img: np.ndarray, tol: int = 3, max_frac: float = 0.001) -> None:
    """Pixels may differ by <= tol per channel except a tiny fraction; on failure save actual + diff."""
    path = GOLDEN / f"{name}.png"
    if os.environ.get("MARKETPHYS_UPDATE_GOLDEN") == "1":
        update_golden(name, img)
    elif not path.exists():
        raise AssertionError(f"golden {path} missing; run with MARKETPHYS_UPDATE_GOLDEN=1 to create it")
    want = read_png(path)
    assert want.shape == img.shape, f"golden {name}: shape {img.shape} != {want.shape}"
    diff = np.abs(want.astype(int) - img.astype(int)).max(axis=2)
    frac = float((diff > tol).mean())
    if frac > max_frac:
        write_png(ARTIFACTS / f"{name}.actual.png", img)
        vis = np.zeros_like(img)
        vis[..., 0] = np.clip(diff * 8, 0, 255)
        vis[..., 3] = 255
        write_png(ARTIFACTS / f"{name}.diff.png", vis)
        raise AssertionError(f"golden {name}: {frac:.4%} of pixels differ by > {tol} (allowed {max_frac:.2%}); "
                             f"see {ARTIFACTS}/{name}.diff.png")

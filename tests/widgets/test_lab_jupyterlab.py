"""The Physics Lab inside a real JupyterLab, driven by headless Chromium (Debian's /usr/bin/chromium).

The test starts ``jupyter lab`` on loopback (free port, random token, every Jupyter
directory and the kernel spec in a temp dir), opens a generated notebook, runs all
cells from the Run menu and checks the widget the notebook shows: the canvas equals
the texture the kernel rendered for the frame on screen (the notebook saves one file
per frame version it sends), the hover readout has the frame's values, step and scrub
change the frame, zoom keeps x = 0 centred. The fast host-page variant of these
checks is tests/widgets/test_lab_browser.py. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fixtures_browser import ARTIFACTS, CHROMIUM, FLAGS
from fixtures_browser import canvas_pixels as read_canvas
from marketphys.render import band_heights, px_to_tick

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "marketphys-test"
W, H, N_FRAMES = 480, 300, 24
RAW_W, RAW_H = 240, 160
# the widgets as JupyterLab renders them in cell outputs (the notebook tags each view with a DOM class)
LAB = ".jp-OutputArea-output .mp-test-png .mp-lab"
RAW_LAB = ".jp-OutputArea-output .mp-test-raw .mp-lab"

NOTEBOOK_SETUP = f"""\
import os
from pathlib import Path

import numpy as np

from marketphys.atomic import atomic_output, atomic_write_text
from marketphys.replay.session import Session
from marketphys.widgets.lab import PhysicsLab
from marketphys.widgets.sample import sample_engine, sample_frames

atomic_write_text("kernel.pid", str(os.getpid()))

# a replayed sample session: generated frames through the engine and the baselines, cell by cell;
# one lab sends PNG textures, a smaller one raw RGBA buffers
template = sample_engine(n_paths=8)
session = Session.from_frames(sample_frames({N_FRAMES}), producers=template.producers, config=template.config)
lab = PhysicsLab(width={W}, height={H}, backend="auto")
lab_raw = PhysicsLab(width={RAW_W}, height={RAW_H}, backend="auto", texture_format="raw")
lab.add_class("mp-test-png")
lab_raw.add_class("mp-test-raw")
while (fc := session.step()) is not None:
    lab.push(session.engine, fc)
    lab_raw.push(session.engine, fc)


def keep_shown(lab, folder):
    # save what the kernel sends at every version: the texture it rendered and the frame's fields
    def save(change=None):
        fr = lab.frame
        with atomic_output(Path(folder) / f"v{{lab.version}}.npz") as tmp:
            np.savez(tmp, rgba=lab.render_frame(lab.index), index=lab.index, x_half=lab.x_half, frozen=lab.frozen,
                     n_frames=lab.n_frames, U=fr.U, O=fr.O, C=fr.C, G=fr.G, dx=fr.dx,
                     wU=fr.theta_dict["wU"], wO=fr.theta_dict["wO"], wall_ids=np.array(fr.wall_ids, dtype=str),
                     wall_center=fr.wall_center, wall_width=fr.wall_width, wall_strength=fr.wall_strength)

    save()
    lab.observe(save, names="version")


keep_shown(lab, "kernel-frames")
keep_shown(lab_raw, "kernel-frames-raw")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "marketphys (test venv)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(NOTEBOOK_SETUP), nbformat.v4.new_code_cell("lab"),
                nbformat.v4.new_code_cell("lab_raw")]
    nbformat.write(nb, path)


def jupyter_dirs(base: Path) -> tuple[dict[str, str], Path]:
    """(environment, root dir): temp Jupyter config/data/runtime dirs with the kernel spec and lab settings."""
    dirs = {k: base / k for k in ("config", "data", "runtime", "ipython", "root")}
    for d in dirs.values():
        d.mkdir(parents=True)
    spec = dirs["data"] / "kernels" / KERNEL
    spec.mkdir(parents=True)
    # the venv's python, importing marketphys from this checkout
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "marketphys (test venv)", "language": "python",
        "env": {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)},
    }))
    # no dialogs over the notebook: no news or update pop-ups, start the notebook's kernel without asking
    user = dirs["config"] / "lab" / "user-settings" / "@jupyterlab"
    for ext, name, values in (("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),
                              ("notebook-extension", "tracker", {"autoStartDefaultKernel": True})):
        (user / ext).mkdir(parents=True, exist_ok=True)
        (user / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    # only this kernel spec, no announcements feed, no update check (nothing leaves loopback)
    (dirs["config"] / "jupyter_lab_config.json").write_text(json.dumps({
        "KernelSpecManager": {"ensure_native_kernel": False, "allowed_kernelspecs": [KERNEL]},
        "MappingKernelManager": {"default_kernel_name": KERNEL},
        "ServerApp": {"terminals_enabled": False},
        "LabApp": {"news_url": None, "extension_manager": "readonly",
                   "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
    }))
    env = {"JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"])}
    return env, dirs["root"]


def jupyter_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def wait_for_server(proc: subprocess.Popen, url: str, token: str, log: Path, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}api/status", headers={"Authorization": f"token {token}"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer on {url} within {timeout}s:\n{log.read_text()[-3000:]}")


def start_kernel(url: str, token: str, notebook: str, runtime_dir: Path, timeout: float = 90.0) -> None:
    """Start the notebook's kernel session over REST and wait until the kernel answers.

    JupyterLab then attaches to a ready kernel: a page that connects while the kernel is
    still starting can lose its websocket on a busy machine (jupyter-server issue #1265).
    """
    import httpx
    from jupyter_client import BlockingKernelClient

    r = httpx.post(f"{url}api/sessions", headers={"Authorization": f"token {token}"}, timeout=60,
                   json={"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": KERNEL}})
    r.raise_for_status()
    kid = r.json()["kernel"]["id"]
    client = BlockingKernelClient(connection_file=str(runtime_dir / f"kernel-{kid}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
    finally:
        client.stop_channels()


def stop_server(proc: subprocess.Popen, url: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then end its process group."""
    import httpx

    if proc.poll() is None:
        try:
            httpx.post(f"{url}api/shutdown", headers={"Authorization": f"token {token}"}, timeout=5)
            proc.wait(timeout=15)
        except (httpx.HTTPError, subprocess.TimeoutExpired):
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def assert_kernel_gone(pid_file: Path, timeout: float = 15.0) -> None:
    """The server's shutdown must have ended the notebook's kernel (it runs in its own session)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the notebook kernel (pid {pid}) outlived the JupyterLab shutdown; killed it")


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """(url, token, root dir) of a JupyterLab serving a temp root with the generated test notebook."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium missing at {CHROMIUM} on this platform (scripts/ensure_test_tools.sh installs it)")
    base = tmp_path_factory.mktemp("jupyterlab")
    env_dirs, root = jupyter_dirs(base)
    env = {**os.environ, **env_dirs}
    ext = subprocess.run([jupyter_bin("jupyter"), "labextension", "list"], env=env, capture_output=True, text=True,
                         timeout=60)
    listing = ext.stdout + ext.stderr
    assert "anywidget" in listing and "enabled" in listing.split("anywidget", 1)[1].splitlines()[0], \
        f"anywidget's JupyterLab extension is not active:\n{listing}"
    write_notebook(root / "test.ipynb")
    port, token = free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}/"
    log = base / "jupyterlab.log"
    args = [jupyter_bin("jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"] \
        + (["--allow-root"] if os.geteuid() == 0 else [])
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(proc, url, token, log)
        start_kernel(url, token, "test.ipynb", Path(env_dirs["JUPYTER_RUNTIME_DIR"]))
        yield url, token, root, log
    finally:
        stop_server(proc, url, token)
        assert_kernel_gone(root / "kernel.pid")


@pytest.fixture(scope="module")
def notebook(jupyterlab):
    """The test notebook open in headless Chromium with all cells run and the lab drawn."""
    from playwright.sync_api import sync_playwright

    url, token, root, log = jupyterlab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "PhysicsLab" in m.text else None)
        try:
            page.goto(f"{url}lab/tree/test.ipynb?token={token}", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function("() => (document.querySelector('#jp-main-statusbar') || {}).textContent"
                                   "?.includes('| Idle')", timeout=60_000)
            # Run > Run All Cells, as a user would
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            page.wait_for_function("() => /\\[(\\*|\\d+)\\]/.test(document.querySelector('.jp-InputPrompt').textContent)",
                                   timeout=15_000)
            for sel in (LAB, RAW_LAB):
                page.wait_for_selector(f"{sel}[data-version] canvas.mp-texture", timeout=90_000)
            page.locator(LAB).scroll_into_view_if_needed()
            yield page, root, errors
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "jupyterlab_failure.png"))
            print(log.read_text()[-3000:])
            raise
        finally:
            browser.close()


def shown(page, frames_dir: Path, sel: str = LAB, timeout: float = 30.0) -> dict:
    """The kernel's saved state for the version the widget ``sel`` shows now."""
    v = page.locator(sel).get_attribute("data-version")
    path = frames_dir / f"v{v}.npz"
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"the kernel saved no frame for version {v} in {frames_dir}"
        time.sleep(0.1)
    with np.load(path) as z:
        return {k: z[k] for k in z.files} | {"version": int(v)}


def canvas_pixels(page, sel: str = LAB, size: tuple[int, int] = (W, H)) -> np.ndarray:
    px = read_canvas(page, f"{sel} canvas.mp-texture")
    assert px.shape == (size[1], size[0], 4), px.shape
    return px


def wait_index(page, i: int, sel: str = LAB) -> None:
    page.wait_for_function("([sel, i]) => document.querySelector(sel).dataset.index == String(i)",
                           arg=[sel, i], timeout=30_000)


def wait_new_version(page, v: int) -> None:
    page.wait_for_function("([sel, v]) => Number(document.querySelector(sel).dataset.version) > v",
                           arg=[LAB, v], timeout=30_000)


def expected_readout(s: dict, xt: float) -> dict:
    """U, Γ and ∂V/∂x at ``xt`` ticks from the kernel's arrays (float32 on the wire, linear between cells)."""
    U, O, G = (s[k].astype(np.float32).astype(float) for k in ("U", "O", "G"))
    dx = float(s["dx"])
    f = xt / dx + (U.size - 1) / 2
    i0 = int(np.clip(np.floor(f), 0, U.size - 2))
    t = np.clip(f - i0, 0, 1)
    return {"u": U[i0] * (1 - t) + U[i0 + 1] * t, "g": G[i0] * (1 - t) + G[i0 + 1] * t,
            "dvdx": float(s["wU"]) * (U[i0 + 1] - U[i0]) / dx + float(s["wO"]) * (O[i0 + 1] - O[i0]) / dx}


def test_canvas_shows_the_kernels_texture(notebook):
    page, root, errors = notebook
    frames = root / "kernel-frames"
    s = shown(page, frames)
    assert int(s["n_frames"]) == N_FRAMES
    assert page.locator(LAB).get_attribute("data-index") == str(int(s["index"]))
    px = canvas_pixels(page)
    assert px[..., :3].std() > 5, "canvas looks blank"
    assert np.array_equal(px, s["rgba"]), f"canvas differs from the kernel's texture in {(px != s['rgba']).any(-1).sum()} px"
    # the widget's own CSS is active inside JupyterLab and the canvas is shown 1:1
    box = page.locator(f"{LAB} canvas.mp-texture").bounding_box()
    assert (box["width"], box["height"]) == (W, H)
    assert page.locator(LAB).evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(12, 14, 20)"
    assert page.locator(f"{LAB} .mp-error").inner_text() == ""
    page.screenshot(path=str(ARTIFACTS / "jupyterlab_page.png"))
    page.locator(LAB).screenshot(path=str(ARTIFACTS / "jupyterlab_lab_initial.png"))
    assert not errors, errors


def test_hover_readout_has_the_frames_values(notebook):
    page, root, _ = notebook
    frames = root / "kernel-frames"
    s = shown(page, frames)
    box = page.locator(f"{LAB} canvas.mp-texture").bounding_box()
    ro = page.locator(f"{LAB} .mp-readout")
    for col in (120, 300):
        page.mouse.move(box["x"] + col + 0.5, box["y"] + 40)
        page.wait_for_function("([sel, c]) => { const d = document.querySelector(sel).dataset;"
                               " return d.x !== undefined && Math.abs(Number(d.x) - c) < 1; }",
                               arg=[f"{LAB} .mp-readout", px_to_tick(col + 0.5, float(s["x_half"]), W)], timeout=10_000)
        xt = float(ro.get_attribute("data-x"))
        assert abs(xt - px_to_tick(col + 0.5, float(s["x_half"]), W)) <= 2 * float(s["x_half"]) / W
        want = expected_readout(s, xt)
        for k in ("u", "g", "dvdx"):
            assert float(ro.get_attribute(f"data-{k}")) == pytest.approx(want[k], rel=1e-4, abs=1e-6), k
        assert "U=" in ro.inner_text() and "∂V/∂x=" in ro.inner_text()
    # snap-highlight: at the strongest wall's centre the readout names that gate (zoom out, as a
    # user would, while the fitted view does not reach it)
    k = int(np.argmax(s["wall_strength"]))
    for _ in range(12):
        if abs(float(s["wall_center"][k])) < 0.9 * float(s["x_half"]):
            break
        page.locator(f"{LAB} .mp-zoom-out").click()
        wait_new_version(page, s["version"])
        s = shown(page, frames)
    assert abs(float(s["wall_center"][k])) < 0.9 * float(s["x_half"]), "the strongest wall never came into view"
    gx = W / 2 + float(s["wall_center"][k]) * W / (2 * float(s["x_half"]))
    page.mouse.move(box["x"] + gx, box["y"] + 40)
    page.wait_for_function("([sel, id]) => document.querySelector(sel).dataset.gate === id",
                           arg=[f"{LAB} .mp-readout", str(s["wall_ids"][k])], timeout=10_000)
    page.locator(LAB).screenshot(path=str(ARTIFACTS / "jupyterlab_lab_hover.png"))
    # off the canvas the readout empties (no stale values from this frame on the next one)
    page.mouse.move(box["x"] + W / 2, box["y"] + H + 60)
    page.wait_for_function("sel => document.querySelector(sel).dataset.x === undefined", arg=f"{LAB} .mp-readout")
    assert ro.inner_text() == ""


def test_step_and_scrub_change_the_frame(notebook):
    page, root, _ = notebook
    frames = root / "kernel-frames"
    s0 = shown(page, frames)
    i0, before = int(s0["index"]), canvas_pixels(page)
    assert i0 >= 1, "step back needs a frame before the one shown"
    page.locator(f"{LAB} .mp-step-back").click()
    wait_index(page, i0 - 1)
    s1 = shown(page, frames)
    assert int(s1["index"]) == i0 - 1 and bool(s1["frozen"])
    assert page.locator(f"{LAB} .mp-scrub").input_value() == str(i0 - 1), "the slider thumb did not follow the step"
    after = canvas_pixels(page)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, s1["rgba"])
    # scrub: click a quarter of the way along the slider (three quarters when already near the start)
    slider = page.locator(f"{LAB} .mp-scrub")
    sb = slider.bounding_box()
    frac = 0.25 if i0 - 1 > N_FRAMES / 2 else 0.75
    page.mouse.click(sb["x"] + frac * sb["width"], sb["y"] + sb["height"] / 2)
    wait_new_version(page, s1["version"])
    page.wait_for_function("([sel, i]) => Number(document.querySelector(sel).dataset.index) != i",
                           arg=[LAB, i0 - 1], timeout=30_000)
    s2 = shown(page, frames)
    assert abs(int(s2["index"]) - frac * (N_FRAMES - 1)) <= 3, int(s2["index"])
    assert int(s2["index"]) + 1 < N_FRAMES, "keyboard step needs a newer frame"
    assert int(slider.input_value()) == int(s2["index"])
    assert np.array_equal(canvas_pixels(page), s2["rgba"])
    # keyboard scrub: the slider gets the arrow keys, not JupyterLab's notebook shortcuts
    active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputPrompt").inner_text()
    slider.focus()
    page.keyboard.press("ArrowRight")
    wait_index(page, int(s2["index"]) + 1)
    s3 = shown(page, frames)
    assert int(s3["index"]) == int(s2["index"]) + 1
    assert np.array_equal(canvas_pixels(page), s3["rgba"])
    assert page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputPrompt").inner_text() == active
    page.locator(LAB).screenshot(path=str(ARTIFACTS / "jupyterlab_lab_scrubbed.png"))


def gate_over_spot(s: dict) -> bool:
    """Whether a gate (crisp, opaque) hides the centre line at x = 0 in this frame."""
    margin = 6 * float(s["x_half"]) / W          # a few pixels, in ticks
    return bool(np.any((s["wall_strength"] > 0) & (np.abs(s["wall_center"]) <= s["wall_width"] / 2 + margin)))


def test_zoom_keeps_spot_centred(notebook):
    page, root, _ = notebook
    frames = root / "kernel-frames"
    s0 = shown(page, frames)
    for _ in range(N_FRAMES):              # step back to a frame whose centre line no gate hides
        if not gate_over_spot(s0):
            break
        button = ".mp-step-back" if int(s0["index"]) > 0 else ".mp-step"
        page.locator(f"{LAB} {button}").click()
        wait_new_version(page, s0["version"])
        s0 = shown(page, frames)
    assert not gate_over_spot(s0), "every frame has a gate over spot"
    page.locator(f"{LAB} .mp-zoom-in").click()
    wait_new_version(page, s0["version"])
    s1 = shown(page, frames)
    assert float(s1["x_half"]) == pytest.approx(float(s0["x_half"]) / 1.5)
    assert int(s1["index"]) == int(s0["index"])
    px = canvas_pixels(page)
    assert np.array_equal(px, s1["rgba"])
    # the "Spot (t0)" centre line stays on the middle columns: centroid of centre-coloured pixels in
    # band A (a gate over x = 0 hides some rows, it does not move the line)
    band_a = band_heights(H)[0]
    centre = np.array([0.85, 0.86, 0.90]) * 255
    hits = (np.abs(px[:band_a, :, :3].astype(int) - centre).max(axis=2) < 25).sum(axis=0)
    assert hits.sum() >= band_a // 4, "no centre line found"
    assert abs((hits * np.arange(W)).sum() / hits.sum() - (W / 2 - 0.5)) < 1.0
    # and the widget's pointer mapping agrees: the middle of the canvas reads x = 0
    box = page.locator(f"{LAB} canvas.mp-texture").bounding_box()
    page.mouse.move(box["x"] + W / 2, box["y"] + 20)
    tick_px = 2 * float(s1["x_half"]) / W
    page.wait_for_function("([sel, t]) => Math.abs(Number(document.querySelector(sel).dataset.x)) <= t",
                           arg=[f"{LAB} .mp-readout", tick_px], timeout=10_000)
    page.mouse.move(box["x"] + W / 2, box["y"] + H + 60)
    status = page.locator(f"{LAB} .mp-status").inner_text()
    assert f"±{float(s1['x_half']):.0f} ticks" in status
    page.locator(f"{LAB} .mp-debug").click()
    page.wait_for_function("sel => document.querySelector(sel).classList.contains('mp-on')", arg=f"{LAB} .mp-debug")
    page.locator(LAB).screenshot(path=str(ARTIFACTS / "jupyterlab_lab_zoomed.png"))


def test_raw_texture_buffers_reach_the_canvas(notebook):
    """The raw-RGBA wire format: ipywidgets hands the binary buffer to the view as a DataView."""
    page, root, errors = notebook
    frames = root / "kernel-frames-raw"
    s0 = shown(page, frames, RAW_LAB)
    px = canvas_pixels(page, RAW_LAB, (RAW_W, RAW_H))
    assert px[..., :3].std() > 5, "raw canvas looks blank"
    assert np.array_equal(px, s0["rgba"])
    page.locator(f"{RAW_LAB} .mp-step-back").click()
    wait_index(page, int(s0["index"]) - 1, RAW_LAB)
    s1 = shown(page, frames, RAW_LAB)
    assert int(s1["index"]) == int(s0["index"]) - 1
    assert np.array_equal(canvas_pixels(page, RAW_LAB, (RAW_W, RAW_H)), s1["rgba"])
    page.locator(RAW_LAB).screenshot(path=str(ARTIFACTS / "jupyterlab_lab_raw.png"))
    assert not errors, errors

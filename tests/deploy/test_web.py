"""The upscaler web page in a real browser: Debian's Chromium, driven by Playwright, loads the
page from a local server, upscales a real photo crop through the page's own file input (in
tiles), and its result is compared with `upscale`'s on the same crop; its PNG download, its
error messages, a screenshot.

Skipped, with the reason, where Chromium (apt-get install chromium) or Playwright is missing;
`.ci/run` installs both.
"""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
from PIL import Image
import pytest
import skimage.data

from esrgan_tf.data import image_io
from esrgan_tf.deploy import web
from esrgan_tf.formats import generators
from esrgan_tf.inference.tiling import tile_upscale

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or shutil.which("npm") is None,
    reason="needs Chromium (apt-get install chromium) and npm",
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served_page(tmp_path_factory):
    """(base URL, folder, Keras model) of the page of zoo:realesr-animevideov3, a real trained
    model, served by a local HTTP server."""
    folder = tmp_path_factory.mktemp("page")
    loaded = generators.load("zoo:realesr-animevideov3")
    web.write_page(
        loaded.model, str(folder), "zoo:realesr-animevideov3", model_config=loaded.config
    )
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder, loaded.model
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (test extras)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open(browser, url):
    page = browser.new_page(accept_downloads=True)
    page.goto(url)
    page.wait_for_function("['ready', 'error'].includes(window.esrgan.state)", timeout=60_000)
    assert page.evaluate("window.esrgan.error") is None
    return page


def _upscale_in_page(page, path):
    page.set_input_files("#file", str(path))
    page.wait_for_function("['done', 'error'].includes(window.esrgan.state)", timeout=120_000)
    assert page.evaluate("window.esrgan.error") is None
    result = page.evaluate(
        "({h: window.esrgan.result.height, w: window.esrgan.result.width,"
        " tiles: window.esrgan.result.tiles, data: Array.from(window.esrgan.result.data)})"
    )
    out = np.asarray(result["data"], np.float32).reshape(result["h"], result["w"], 3)
    return out, result["tiles"]


@needs_browser
@pytest.mark.slow
def test_page_upscales_a_photo_in_tiles_as_upscale_does(served_page, browser, tmp_path):
    url, folder, model = served_page
    crop = np.ascontiguousarray(skimage.data.chelsea()[60:110, 100:170])  # 50x70
    (tmp_path / "cat.png").write_bytes(image_io.encode_png(crop))
    page = _open(browser, f"{url}/index.html?tile=24")
    assert "SRVGGNetCompact x4" in page.inner_text("#about")
    assert "onnxruntime-web 1.31.1" in page.inner_text("#about")
    out, tiles = _upscale_in_page(page, tmp_path / "cat.png")
    assert tiles == 9  # 50x70 with tiles of at most 24: 3 x 3
    expected = tile_upscale(model, crop.astype(np.float32) / 255, 4)
    assert out.shape == expected.shape == (200, 280, 3)
    assert np.std(expected) > 0.05
    assert np.max(np.abs(out - expected)) <= 1 / 255  # float32 in both
    status = page.inner_text("#status")
    assert "cat.png: 70x50 -> 280x200 in" in status and "s per LR megapixel" in status
    # The download is the result, rounded to 8 bits.
    with page.expect_download() as download:
        page.click("#download")
    download.value.save_as(tmp_path / "out.png")
    png = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    np.testing.assert_array_equal(png, np.round(np.clip(out, 0, 1) * 255).astype(np.uint8))
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    shot = np.asarray(Image.open(tmp_path / "page.png").convert("RGB"))
    assert shot.shape[0] > 300 and shot.std() > 20  # the comparison is drawn, not a blank page
    page.close()


@needs_browser
@pytest.mark.slow
def test_page_shows_errors_in_the_page(served_page, browser, tmp_path):
    url, _, _ = served_page
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    page = _open(browser, f"{url}/index.html")
    for name, message in (("notes.txt", "is not an image"), ("broken.png", "could not be decoded")):
        page.set_input_files("#file", str(tmp_path / name))
        page.wait_for_function("window.esrgan.state === 'error'", timeout=30_000)
        assert message in page.inner_text("#error")
    # A budget too small for even one tile with its context is a message, not a hang.
    crop = np.ascontiguousarray(skimage.data.coffee()[:40, :40])
    (tmp_path / "cup.png").write_bytes(image_io.encode_png(crop))
    page.goto(f"{url}/index.html?max_memory_mb=0.001")
    page.wait_for_function("window.esrgan.state === 'ready'", timeout=60_000)
    page.set_input_files("#file", str(tmp_path / "cup.png"))
    page.wait_for_function("window.esrgan.state === 'error'", timeout=30_000)
    assert "cannot be tiled within the memory budget" in page.inner_text("#error")
    page.close()


@needs_browser
def test_page_folder_is_self_contained(served_page):
    _, folder, _ = served_page
    names = sorted(os.listdir(folder))
    assert names == ["app.js", "index.html", "model.json", "model.onnx", "ort", "serve.py"]
    assert sorted(os.listdir(folder / "ort")) == sorted([*web.ORT_WEB_FILES, "LICENSE.txt"])
    html = (folder / "index.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    assert "MIT License" in (folder / "ort" / "LICENSE.txt").read_text()


def test_without_npm_the_error_says_what_is_needed(tmp_path):
    with pytest.raises(web.WebExportError, match="needs npm"):
        web.vendor_runtime(str(tmp_path), npm="no-such-npm")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
def test_export_publishes_the_page_with_its_model_measured(
    tmp_path, tiny_model, make_generator, export_config
):
    from esrgan_tf.deploy import export

    out = tmp_path / "export"
    config = export_config(out, tflite=(), web=True)
    report = export.export(config, make_generator(tiny_model, 4), tiny_model)
    assert sorted(os.listdir(out)) == ["1", "reports", "web"]
    page = out / "web" / "v1"
    assert {"index.html", "app.js", "model.json", "model.onnx", "ort"} <= set(os.listdir(page))
    row = {r["name"]: r for r in report["artifacts"]}["web (onnx fp32)"]
    assert row["max_abs_diff"] <= 1e-4 and row["violations"] == []


@needs_browser
@pytest.mark.slow
def test_serve_py_gives_the_page_threads(served_page, browser, tmp_path):
    _, folder, model = served_page
    process = subprocess.Popen(
        [sys.executable, str(folder / "serve.py"), "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        url = process.stdout.readline().split(" at ")[1].strip()
        page = _open(browser, url + "index.html")
        assert page.evaluate("self.crossOriginIsolated")
        threads = min(os.cpu_count(), 4)
        assert f"{threads} thread" in page.inner_text("#about")
        crop = np.ascontiguousarray(skimage.data.astronaut()[100:132, 180:220])
        (tmp_path / "face.png").write_bytes(image_io.encode_png(crop))
        out, _ = _upscale_in_page(page, tmp_path / "face.png")
        expected = tile_upscale(model, crop.astype(np.float32) / 255, 4)
        assert np.max(np.abs(out - expected)) <= 1 / 255
        page.close()
    finally:
        process.terminate()
        process.wait(timeout=10)

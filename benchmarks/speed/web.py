"""python -m benchmarks.speed.web: seconds per LR megapixel of the upscaler web page in headless
Chromium, against `upscale`'s path in Python on the same CPU and the same photo crop.

  python -m benchmarks.speed.web --output=benchmarks/results/web.json      # ~3 min
  python -m benchmarks.speed.web --models=realesr-animevideov3 --lr_size=64

For every `zoo:` model asked for: the page of `esrgan_tf.deploy.web` (onnxruntime-web, wasm),
served twice — by a plain server (one WebAssembly thread, what `python -m http.server` gives)
and by the page's own `serve.py` (cross-origin isolated: as many threads as cores, at most 4)
— upscales the centre LR crop of scikit-image's coffee through its file input, untiled; its
own timer (decode excluded, inference and assembly included) is reported as the median of
`--runs` uploads after one warm-up. Beside it: `tile_upscale` (what `python -m
esrgan_tf.upscale` runs) on the same crop, median of as many runs after a warm-up.
Needs `pip install -e ".[zoo,onnx,test]"`, npm and Chromium (apt-get install chromium).
"""

import argparse
import functools
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import timing  # noqa: E402
from esrgan_tf import hardware  # noqa: E402
from esrgan_tf.data import image_io  # noqa: E402
from esrgan_tf.deploy import web  # noqa: E402
from esrgan_tf.formats import generators, zoo  # noqa: E402
from esrgan_tf.inference.tiling import tile_upscale  # noqa: E402

MODELS = ("realesr-animevideov3", "realesrgan-x4plus")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _crop(size):
    import skimage.data

    photo = skimage.data.coffee()
    top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
    return np.ascontiguousarray(photo[top : top + size, left : left + size])


def _page_seconds(browser, url, png, runs):
    page = browser.new_page()
    page.goto(url)
    page.wait_for_function("['ready', 'error'].includes(window.esrgan.state)", timeout=120_000)
    about = page.inner_text("#about")
    seconds = []
    for _ in range(runs + 1):
        page.evaluate("window.esrgan.state = 'ready'")
        page.set_input_files("#file", png)
        page.wait_for_function("['done', 'error'].includes(window.esrgan.state)", timeout=600_000)
        error = page.evaluate("window.esrgan.error")
        if error:
            raise RuntimeError(f"the page failed: {error}")
        seconds.append(page.evaluate("window.esrgan.result.seconds"))
        page.set_input_files("#file", [])  # the same file again must fire `change`
    page.close()
    return statistics.median(seconds[1:]), about


def measure(name, lr_size, runs, browser, folder):
    loaded = generators.load(zoo.PREFIX + name)
    page_dir = os.path.join(folder, name)
    web.write_page(loaded.model, page_dir, zoo.PREFIX + name, model_config=loaded.config)
    crop = _crop(lr_size)
    png = os.path.join(folder, f"{name}.png")
    with open(png, "wb") as f:
        f.write(image_io.encode_png(crop))
    megapixels = lr_size * lr_size / 1e6
    rows = []
    handler = functools.partial(_Quiet, directory=page_dir)
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        seconds, about = _page_seconds(browser, url, png, runs)
        rows.append({"runner": "browser, wasm, 1 thread", "about": about, "seconds": seconds})
        server.shutdown()
    process = subprocess.Popen(
        [sys.executable, os.path.join(page_dir, "serve.py"), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = process.stdout.readline().split(" at ")[1].strip() + "index.html"
        seconds, about = _page_seconds(browser, url, png, runs)
        threads = about.split("WebAssembly, ")[1].split(")")[0]
        rows.append({"runner": f"browser, wasm, {threads} (serve.py)", "seconds": seconds})
    finally:
        process.terminate()
        process.wait(timeout=10)
    image = crop.astype(np.float32) / 255

    def python_upscale():
        np.asarray(tile_upscale(loaded.model, image, loaded.scale))

    times = timing.time_calls(python_upscale, runs)
    rows.append(
        {"runner": "upscale (TensorFlow, tf.function)", "seconds": statistics.median(times)}
    )
    for row in rows:
        row["s_per_lr_mp"] = row["seconds"] / megapixels
    return {"summary": loaded.descriptor.summary, "rows": rows}


def markdown(result):
    s = result["settings"]
    lines = [
        f"Measured {result['date'][:10]} on {hardware.label(result['hardware'])}, "
        f"`python -m benchmarks.speed.web`; an LR {s['lr_size']}x{s['lr_size']} crop of "
        f"coffee, untiled, median of {s['runs']} runs after a warm-up; Chromium "
        f"{s['chromium']}, onnxruntime-web {web.ORT_WEB_VERSION}.",
        "",
    ]
    rows = []
    for name, model in result["results"].items():
        for i, row in enumerate(model["rows"]):
            rows.append(
                [
                    name if i == 0 else "",
                    row["runner"],
                    f"{row['seconds']:.2f}",
                    f"{row['s_per_lr_mp']:.0f}",
                ]
            )
    lines.append(timing.table(["model", "runner", "s per crop", "s per LR megapixel"], rows))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--lr_size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default="benchmarks/results/web.json")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("error: needs Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    load_average = timing.load_average()
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout
    results = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for name in args.models.split(","):
            print(f"{name} ...", file=sys.stderr)
            results[name] = measure(name, args.lr_size, args.runs, browser, folder)
        browser.close()
    settings = {"lr_size": args.lr_size, "runs": args.runs, "chromium": version.split()[1]}
    result = timing.report("web", settings, results, load_average)
    return timing.publish(result, args.output, markdown)


if __name__ == "__main__":
    main()

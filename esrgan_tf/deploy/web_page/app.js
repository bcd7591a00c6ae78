// The upscaler page of `python -m esrgan_tf.export --web`: runs model.onnx with the vendored
// onnxruntime-web (wasm) tile by tile, as `python -m esrgan_tf.upscale` tiles
// (esrgan_tf/inference/tiling.py: the same plan, the context of the model's descriptor, no
// invented pixels at the borders, edge rows mirrored in to a pixel-unshuffle model's
// multiple), so tiled == untiled within 1/255 and any image size fits the memory budget.
// URL parameters: ?tile=N (upper limit of the LR tile side), ?max_memory_mb=N.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { config: null, session: null, busy: false };
// For tests and the curious: the last result as floats (HWC, not clipped) and its timing.
window.esrgan = { state: "loading", result: null, error: null };

function setState(name) {
  window.esrgan.state = name;
  document.body.dataset.state = name;
}

function showError(message) {
  window.esrgan.error = message;
  $("error").textContent = message;
  setState("error");
}

// ---- The tiling plan: a port of tiling._axis and tiling.plan ----

function axis(size, count, pad, align) {
  const units = Math.floor(size / align);
  const bounds = [];
  for (let i = 0; i <= count; i++) bounds.push(Math.round((i * units) / count) * align);
  const tiles = [];
  for (let i = 0; i < count; i++) {
    const a = bounds[i], b = bounds[i + 1];
    tiles.push([a, b, Math.max(a - pad, 0), Math.min(b + pad, size)]);
  }
  return tiles;
}

function paddedArea(rows, cols) {
  const sum = (t) => t.reduce((s, [, , ws, we]) => s + (we - ws), 0);
  return sum(rows) * sum(cols);
}

function plan(height, width, pad, maxWindowPixels, align, maxTile) {
  let best = null;
  const longest = (t) => Math.max(...t.map(([a, b]) => b - a));
  const widest = (t) => Math.max(...t.map(([, , ws, we]) => we - ws));
  for (let nH = 1; nH <= Math.floor(height / align); nH++) {
    const rows = axis(height, nH, pad, align);
    if (maxTile && longest(rows) > maxTile) continue;
    const tallest = widest(rows);
    for (let nW = 1; nW <= Math.floor(width / align); nW++) {
      const cols = axis(width, nW, pad, align);
      if (maxTile && longest(cols) > maxTile) continue;
      if (tallest * widest(cols) <= maxWindowPixels) {
        const area = paddedArea(rows, cols);
        if (best === null || area < best[0]) best = [area, rows, cols];
        break;
      }
      if (tallest * Math.min(width, align + 2 * pad) > maxWindowPixels) break;
    }
    if (best !== null && best[2].length === 1) break;
  }
  if (best === null) {
    throw new Error(
      `This ${width}x${height} image cannot be tiled within the memory budget ` +
        `(${maxWindowPixels} pixels per call with ${pad} px of context): ` +
        "raise ?max_memory_mb= or use a smaller image."
    );
  }
  return [best[1], best[2]];
}

// ---- Pixels ----

// RGB floats in [0, 1], HWC, of an ImageData; mirrored ("reflect", as numpy) to multiples.
function toFloat(imageData, align) {
  const { width: w, height: h, data } = imageData;
  const H = h + ((align - (h % align)) % align), W = w + ((align - (w % align)) % align);
  const out = new Float32Array(H * W * 3);
  const reflect = (i, n) => (i < n ? i : 2 * (n - 1) - i);
  for (let y = 0; y < H; y++) {
    const sy = reflect(y, h);
    for (let x = 0; x < W; x++) {
      const s = (sy * w + reflect(x, w)) * 4, d = (y * W + x) * 3;
      out[d] = data[s] / 255;
      out[d + 1] = data[s + 1] / 255;
      out[d + 2] = data[s + 2] / 255;
    }
  }
  return { pixels: out, height: H, width: W };
}

function window_(image, ws, we, xs, xe) {
  // NCHW float32 of image rows [ws, we) and columns [xs, xe).
  const h = we - ws, w = xe - xs, plane = h * w;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = ((ws + y) * image.width + xs + x) * 3, d = y * w + x;
      out[d] = image.pixels[s];
      out[plane + d] = image.pixels[s + 1];
      out[2 * plane + d] = image.pixels[s + 2];
    }
  }
  return out;
}

async function upscale(imageData, onProgress) {
  const cfg = state.config, s = cfg.scale;
  const params = new URLSearchParams(location.search);
  const maxTile = parseInt(params.get("tile") || "0", 10);
  const maxMemory = parseFloat(params.get("max_memory_mb") || cfg.max_memory_mb) * 2 ** 20;
  const image = toFloat(imageData, cfg.size_multiple);
  const maxWindow = Math.max(Math.floor(maxMemory / cfg.bytes_per_pixel), 1);
  const [rows, cols] = plan(image.height, image.width, cfg.context, maxWindow, cfg.size_multiple, maxTile);
  const H = image.height * s, W = image.width * s;
  const out = new Float32Array(H * W * 3);
  const total = rows.length * cols.length;
  let done = 0;
  for (const [a, b, ws, we] of rows) {
    for (const [c, d, xs, xe] of cols) {
      const h = we - ws, w = xe - xs;
      const input = new ort.Tensor("float32", window_(image, ws, we, xs, xe), [1, 3, h, w]);
      const result = await state.session.run({ [cfg.input]: input });
      const tile = result[cfg.output].data, plane = h * s * w * s;
      for (let y = (a - ws) * s; y < (b - ws) * s; y++) {
        for (let x = (c - xs) * s; x < (d - xs) * s; x++) {
          const src = y * w * s + x, dst = ((ws * s + y) * W + xs * s + x) * 3;
          out[dst] = tile[src];
          out[dst + 1] = tile[plane + src];
          out[dst + 2] = tile[2 * plane + src];
        }
      }
      done++;
      onProgress(done, total);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let the page repaint
    }
  }
  // Crop what was mirrored in for the size multiple.
  const h = imageData.height * s, w = imageData.width * s;
  const cropped = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++) cropped.set(out.subarray(y * W * 3, (y * W + w) * 3), y * w * 3);
  return { data: cropped, height: h, width: w, tiles: total };
}

// ---- The page ----

async function decode(file) {
  if (file.type && !file.type.startsWith("image/")) {
    throw new Error(`${file.name} is not an image (${file.type}).`);
  }
  try {
    return await createImageBitmap(file);
  } catch (e) {
    throw new Error(`${file.name} could not be decoded as an image.`);
  }
}

async function run(file) {
  if (state.busy || !state.session) return;
  state.busy = true;
  $("error").textContent = "";
  $("download").hidden = true;
  setState("running");
  try {
    const bitmap = await decode(file);
    const { width, height } = bitmap;
    const s = state.config.scale;
    if (width * s > 16384 || height * s > 16384 || width * height * s * s > 268e6) {
      throw new Error(
        `${width}x${height} upscaled x${s} is larger than a browser canvas can hold ` +
          "(16384 px a side, 268 megapixels): use python -m esrgan_tf.upscale for this one."
      );
    }
    const source = new OffscreenCanvas(width, height).getContext("2d");
    source.drawImage(bitmap, 0, 0);
    const imageData = source.getImageData(0, 0, width, height);
    $("status").textContent = `Upscaling ${file.name} (${width}x${height})...`;
    const started = performance.now();
    const result = await upscale(imageData, (done, total) => {
      $("progress").value = done / total;
      $("status").textContent = `Upscaling ${file.name} (${width}x${height}): tile ${done} of ${total}`;
    });
    const seconds = (performance.now() - started) / 1000;
    show(bitmap, result);
    const mp = (width * height) / 1e6;
    window.esrgan.result = { ...result, seconds };
    $("status").textContent =
      `${file.name}: ${width}x${height} -> ${result.width}x${result.height} in ` +
      `${seconds.toFixed(2)} s (${result.tiles} tile${result.tiles > 1 ? "s" : ""}, ` +
      `${(seconds / mp).toFixed(1)} s per LR megapixel)`;
    setState("done");
  } catch (e) {
    showError(e.message || String(e));
  } finally {
    state.busy = false;
  }
}

function show(bitmap, result) {
  const { width: w, height: h } = result;
  const after = $("after"), before = $("before");
  after.width = before.width = w;
  after.height = before.height = h;
  const pixels = new ImageData(w, h);
  for (let i = 0, j = 0; i < w * h * 3; i += 3, j += 4) {
    for (let c = 0; c < 3; c++) {
      pixels.data[j + c] = Math.round(Math.min(Math.max(result.data[i + c], 0), 1) * 255);
    }
    pixels.data[j + 3] = 255;
  }
  after.getContext("2d").putImageData(pixels, 0, 0);
  const ctx = before.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bitmap, 0, 0, w, h);
  $("compare").style.display = "block";
  $("split").hidden = $("labels").hidden = false;
  split();
  after.toBlob((blob) => {
    const link = $("download");
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.hidden = false;
  }, "image/png");
}

function split() {
  const percent = $("split").value;
  $("before").style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  $("divider").style.left = `${percent}%`;
}

async function main() {
  $("split").addEventListener("input", split);
  $("file").addEventListener("change", (e) => e.target.files[0] && run(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) run(e.dataTransfer.files[0]);
  });
  try {
    if (typeof ort === "undefined") throw new Error("the ONNX runtime (ort/ort.wasm.min.js) did not load");
    state.config = await (await fetch("model.json")).json();
    ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
    const threads = self.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 4) : 1;
    ort.env.wasm.numThreads = threads;
    state.session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
    const cfg = state.config;
    $("about").textContent =
      `${cfg.summary} (${cfg.name}), onnxruntime-web ${cfg.runtime_version} on the CPU ` +
      `(WebAssembly, ${threads} thread${threads > 1 ? "s" : ""}).`;
    setState("ready");
  } catch (e) {
    $("about").textContent = "The model could not be loaded.";
    showError(`The upscaler cannot run in this browser: ${e.message || e}`);
  }
}

main();

"""Deployment artifacts of a generator, each checked against the Keras model before it is
published: the library of `python -m esrgan_tf.export`.

  <output_dir>/<version>/                       SavedModel for TensorFlow Serving
                                                (signatures: `esrgan_tf.deploy.serving`)
  <output_dir>/tflite/v<version>/<variant>_<shape>.tflite
                                                LiteRT models (`esrgan_tf.deploy.tflite`)
  <output_dir>/onnx/v<version>/<precision>_dynamic.onnx
                                                ONNX models (`esrgan_tf.deploy.onnx`)
  <output_dir>/web/v<version>/                  an upscaler web page (`esrgan_tf.deploy.web`)
  <output_dir>/reports/v<version>.json, .md     the export report

The version is the next free number unless given. Everything is first written to
`<output_dir>/.staging-v<version>` and moved into place only when every artifact is within
its tolerance: TF Serving polls the base path and serves a new numeric version as soon as
it appears, so a broken export must never show up there. Out of tolerance, the export fails
(exit status 1) and leaves the staging folder, report included, for inspection.

The report gives, for every artifact, its size, the max / mean absolute difference and the
PSNR of its output against the Keras model's (both clipped to [0, 1]) on sample images,
the PSNR-Y against the HR photos (the literature's protocol) and the latency of one
sample on this machine. `TOLERANCES` states the bounds and how they were measured.
"""

import dataclasses
import datetime
import os
import shutil
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf
import tqdm

from esrgan_tf import atomic, files, hardware, tables
from esrgan_tf.data import patches
from esrgan_tf.deploy import onnx, serving, tflite, web
from esrgan_tf.formats import generators, saved_model
from esrgan_tf.inference.litert import TFLiteModel
from esrgan_tf.metrics import psnr_ssim
from esrgan_tf.models import builders

# The photos that the quickstart holds out for validation: parity samples by default, so
# int8 calibration (the other sample photos) never sees them.
SKIMAGE_SAMPLES = ("rocket", "coffee", "chelsea")


class ExportParityError(RuntimeError):
    """An artifact is outside its tolerance; nothing was published."""

    exit_status = 1


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Bounds on an artifact's output against the Keras model's, on the sample images.

    Attributes:
        max_abs: largest allowed |artifact - Keras| of any pixel (None: not checked).
        min_psnr: lowest allowed PSNR in dB (RGB, [0, 1] peak) of any sample (None: not
            checked).
    """

    max_abs: float = None
    min_psnr: float = None

    def violations(self, result):
        if not result["finite"]:
            return ["non-finite output (NaN/Inf)"]
        found = []
        if self.max_abs is not None and not result["max_abs_diff"] <= self.max_abs:
            found.append(f"max |diff| {result['max_abs_diff']:.3g} > {self.max_abs:g}")
        psnr = result["psnr_db"]
        if self.min_psnr is not None and psnr is not None and not psnr >= self.min_psnr:
            found.append(f"PSNR {psnr:.2f} dB < {self.min_psnr:g} dB")
        return found


# Float artifacts compute the same function: only round-off may differ. Reduced precision
# and quantisation get PSNR floors (vs the Keras output) a little under the lowest measured on
# trained and random models; the measurements and how to repeat them: docs/deployment.md
# "Tolerances".
TOLERANCES = {
    ("saved_model", "fp32"): Tolerance(max_abs=1e-5),
    ("saved_model", "fp16"): Tolerance(min_psnr=55.0),
    ("saved_model", "bf16"): Tolerance(min_psnr=45.0),
    ("tflite", "fp32"): Tolerance(max_abs=1e-4),
    ("tflite", "fp16"): Tolerance(min_psnr=60.0),
    ("tflite", "dynamic_int8"): Tolerance(min_psnr=33.0),
    ("tflite", "int8"): Tolerance(min_psnr=27.0),
    ("onnx", "fp32"): Tolerance(max_abs=onnx.MAX_ABS_FP32),
    ("onnx", "fp16"): Tolerance(min_psnr=onnx.MIN_PSNR_FP16),
}


# ---------------------------------------------------------------------------------------
# Measuring one artifact
# ---------------------------------------------------------------------------------------


def _latency_ms(fn, image, runs):
    fn(image)  # warm-up: tracing, allocation, delegate set-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(image)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def measure(fn, samples, references, scale, runs):
    """Parity of `fn` against the Keras outputs `references`, quality against HR, latency."""
    outputs = [np.asarray(fn(lr[None]))[0] for _, lr, _ in samples]
    if not all(np.all(np.isfinite(o)) for o in outputs):  # None, not NaN: valid JSON
        return {
            "finite": False,
            "max_abs_diff": None,
            "mean_abs_diff": None,
            "psnr_db": None,
            "psnr_y_hr_db": None,
            "latency_ms": None,
        }
    diffs = [np.abs(o.astype(np.float64) - r) for o, r in zip(outputs, references)]
    finite_psnrs = [
        p
        for p in (psnr_ssim.float_psnr(o, r) for o, r in zip(outputs, references))
        if np.isfinite(p)
    ]
    return {
        "finite": True,
        "max_abs_diff": float(max(d.max() for d in diffs)),
        "mean_abs_diff": float(np.mean([d.mean() for d in diffs])),
        # The worst sample; None when every output equals the Keras one exactly.
        "psnr_db": float(min(finite_psnrs)) if finite_psnrs else None,
        "psnr_y_hr_db": float(
            np.mean(
                [
                    psnr_ssim.psnr(np.clip(o, 0, 1), hr, crop_border=scale)
                    for o, (_, _, hr) in zip(outputs, samples)
                ]
            )
        ),
        "latency_ms": _latency_ms(fn, samples[0][1][None], runs),
    }


def _size_bytes(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(path) for n in names)


# ---------------------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------------------


def _samples(config, scale):
    names = SKIMAGE_SAMPLES if config.samples == patches.SKIMAGE else None
    return patches.centre_pairs(config.samples, scale, config.input_size, config.num_samples, names)


def _calibration(config, scale):
    if "int8" not in config.tflite:
        return None
    exclude = SKIMAGE_SAMPLES if config.calibration_data == patches.SKIMAGE else ()
    return patches.random_lr_patches(
        config.calibration_data, scale, config.input_size, config.num_calibration, exclude=exclude
    )


def _artifacts(config, generator, model_config, staging, version, metadata, calibration):
    """Yields (name, kind, precision, path, callable) as each artifact is written."""
    saved_model_dir = os.path.join(staging, str(version))
    serving.write_saved_model(
        builders.cast_generator(generator, model_config, config.precision),
        saved_model_dir,
        config.max_pixels,
        metadata,
    )
    yield (
        "saved_model",
        "saved_model",
        config.precision,
        saved_model_dir,
        saved_model.SavedModelGenerator(saved_model_dir),
    )
    tflite_dir = os.path.join(staging, "tflite", f"v{version}")
    if config.tflite:
        os.makedirs(tflite_dir, exist_ok=True)
    with tflite.Converter(generator) as converter:
        for variant in config.tflite:
            for shape in config.tflite_shapes:
                size = config.input_size if shape == "fixed" else None
                label = "dynamic" if size is None else f"{size[0]}x{size[1]}"
                path = os.path.join(tflite_dir, f"{variant}_{label}.tflite")
                atomic.write_bytes(path, converter.convert(variant, size, calibration))
                model = TFLiteModel(path)
                yield f"tflite {variant} {label}", "tflite", variant, path, _clipped(model)
    if config.onnx:
        onnx_dir = os.path.join(staging, "onnx", f"v{version}")
        os.makedirs(onnx_dir, exist_ok=True)
        entries = {"scale": model_config.scale, "architecture": generator.descriptor.summary,
                   "source": config.weights}  # fmt: skip
        for precision in config.onnx:
            path = os.path.join(onnx_dir, f"{precision}_dynamic.onnx")
            channels = generator.descriptor.in_channels
            onnx.save(generator, path, channels, precision=precision, metadata=entries,
                      check=False, model_config=model_config)  # fmt: skip
            runner = onnx.OnnxModel(path)
            yield f"onnx {precision} dynamic", "onnx", precision, path, _clipped(runner)
    if config.web:
        page_dir = os.path.join(staging, "web", f"v{version}")
        path = web.write_page(
            generator, page_dir, config.weights, model_config=model_config, check=False
        )
        yield "web (onnx fp32)", "onnx", "fp32", path, _clipped(onnx.OnnxModel(path))


def _clipped(fn):
    """`fn` with its output clipped to [0, 1], as the references are."""
    return lambda x: np.clip(fn(x), 0.0, 1.0)


def _publish(staging, output_dir, version):
    """Moves the staged artifacts into place; the SavedModel last (Serving picks it up).
    On a TensorFlow filesystem (gs://) they are uploaded from the local staging folder,
    each file whole, the SavedModel's folder last."""
    move = _move if not files.is_remote(output_dir) else _upload
    for kind in ("tflite", "onnx", "web"):
        staged = os.path.join(staging, kind, f"v{version}")
        if os.path.isdir(staged):
            files.makedirs(files.join(output_dir, kind))
            move(staged, files.join(output_dir, kind, f"v{version}"))
    files.makedirs(files.join(output_dir, "reports"))
    for ext in ("json", "md"):
        move(
            os.path.join(staging, "reports", f"v{version}.{ext}"),
            files.join(output_dir, "reports", f"v{version}.{ext}"),
        )
    move(os.path.join(staging, str(version)), files.join(output_dir, str(version)))
    shutil.rmtree(staging)


def _move(source, target):
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.replace(source, target)


def _upload(source, target):
    """A local file or folder copied to `target` on a TensorFlow filesystem (replaced)."""
    if not os.path.isdir(source):
        tf.io.gfile.copy(source, target, overwrite=True)
        return
    if tf.io.gfile.isdir(target):
        tf.io.gfile.rmtree(target)
    last = []  # a SavedModel's saved_model.pb goes last: Serving polls for it
    for folder, _, names in os.walk(source):
        relative = os.path.relpath(folder, source)
        remote = target if relative == "." else files.join(target, *relative.split(os.sep))
        tf.io.gfile.makedirs(remote)
        for name in names:
            copy = (os.path.join(folder, name), files.join(remote, name))
            if name == "saved_model.pb":
                last.append(copy)
            else:
                tf.io.gfile.copy(*copy, overwrite=True)
    for copy in last:
        tf.io.gfile.copy(*copy, overwrite=True)


def export(config, generator=None, model_config=None, tolerances=None):
    """Writes, checks and publishes every artifact of `config`; returns the report.

    Args:
        config: an ExportConfig.
        generator, model_config: a built Keras generator and its architecture, instead of
            loading `config.weights` (tests, notebooks).
        tolerances: {(kind, precision): Tolerance} to hold the artifacts to (None:
            `TOLERANCES`).
    Raises:
        ExportParityError: an artifact is out of tolerance (with enforce_tolerances).
    """
    if generator is None:
        if saved_model.resolve_saved_model(config.weights):
            raise ValueError(
                f"{config.weights} is an exported SavedModel; export from the Keras "
                "weights, a training workdir, a checkpoint or imported weights"
            )
        loaded = generators.load(config.weights, config.architecture, use_ema=config.use_ema)
        generator, model_config = loaded.model, loaded.config
    scale = model_config.scale
    version = config.version or serving.next_version(config.output_dir)
    if files.exists(files.join(config.output_dir, str(version))):
        raise ValueError(
            f"{config.output_dir}/{version} already exists; give another "
            "--version or leave it at 0 for the next free one"
        )
    # Staged on the local disk: beside the output, or in a temporary folder for gs://...
    if files.is_remote(config.output_dir):
        staging = tempfile.mkdtemp(prefix=f"esrgan_tf_export_v{version}_")
        os.rmdir(staging)
    else:
        staging = os.path.join(config.output_dir, f".staging-v{version}")
    if os.path.exists(staging):
        shutil.rmtree(staging)
    os.makedirs(os.path.join(staging, "reports"))

    samples = _samples(config, scale)
    calibration = _calibration(config, scale)
    keras_fn = tf.function(generator)
    references = [
        np.clip(keras_fn(lr[None]).numpy()[0], 0, 1).astype(np.float64) for _, lr, _ in samples
    ]
    reference_row = {
        "name": "keras",
        "kind": "keras",
        "precision": "fp32",
        "path": "",
        "size_bytes": None,
        "tolerance": None,
        "violations": [],
        **measure(
            lambda x: np.clip(keras_fn(x).numpy(), 0, 1),
            samples,
            references,
            scale,
            config.latency_runs,
        ),
    }
    metadata = {
        "model": dataclasses.asdict(model_config),
        "scale": scale,
        "precision": config.precision,
        "weights": config.weights,
    }
    rows, failures = [reference_row], []
    count = 1 + len(config.tflite) * len(config.tflite_shapes) + len(config.onnx) + config.web
    with tqdm.tqdm(total=count, desc="export", unit="artifact", disable=not config.progress) as bar:
        for name, kind, precision, path, fn in _artifacts(
            config, generator, model_config, staging, version, metadata, calibration
        ):
            bar.set_postfix_str(name)
            row = {
                "name": name,
                "kind": kind,
                "precision": precision,
                "path": os.path.relpath(path, staging),
                "size_bytes": _size_bytes(path),
                **measure(fn, samples, references, scale, config.latency_runs),
            }
            tolerance = (tolerances or TOLERANCES)[(kind, precision)]
            row["tolerance"] = dataclasses.asdict(tolerance)
            row["violations"] = tolerance.violations(row)
            failures.extend(f"{name}: {v}" for v in row["violations"])
            rows.append(row)
            bar.update(1)

    report = _report(config, model_config, version, samples, calibration, rows)
    _write_report(report, os.path.join(staging, "reports", f"v{version}"))
    print(report["table"])
    if failures and config.enforce_tolerances:
        raise ExportParityError(
            "artifacts outside their tolerance, nothing published (inspect "
            + staging
            + "):\n  "
            + "\n  ".join(failures)
        )
    _publish(staging, config.output_dir, version)
    report["published"] = files.join(config.output_dir, str(version))
    return report


def _report(config, model_config, version, samples, calibration, rows):
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": hardware.describe(),
        "weights": config.weights,
        "model": dataclasses.asdict(model_config),
        "version": version,
        "precision": config.precision,
        "max_pixels": config.max_pixels,
        "samples": {
            "source": config.samples,
            "names": [n for n, _, _ in samples],
            "lr_size": list(config.input_size),
        },
        "calibration": (
            {"source": config.calibration_data, "patches": len(calibration)}
            if calibration is not None
            else None
        ),
        "artifacts": rows,
    }
    report["table"] = format_table(rows)
    return report


def _cell(value, fmt):
    return "n/a" if value is None else fmt.format(value)


def format_table(rows):
    """Markdown table of the report's artifacts."""
    header = (
        "artifact",
        "size (MB)",
        "max abs diff",
        "mean abs diff",
        "PSNR vs Keras (dB)",
        "PSNR-Y vs HR (dB)",
        "latency (ms)",
        "within tolerance",
    )
    cells = []
    for row in rows:
        size = None if row["size_bytes"] is None else row["size_bytes"] / 1e6
        psnr = row["psnr_db"]
        psnr_cell = "exact" if psnr is None and row["finite"] else _cell(psnr, "{:.2f}")
        status = (
            "reference"
            if row["kind"] == "keras"
            else ("yes" if not row["violations"] else "NO: " + "; ".join(row["violations"]))
        )
        cells.append(
            (
                row["name"],
                _cell(size, "{:.2f}"),
                _cell(row["max_abs_diff"], "{:.2e}"),
                _cell(row["mean_abs_diff"], "{:.2e}"),
                psnr_cell,
                _cell(row["psnr_y_hr_db"], "{:.2f}"),
                _cell(row["latency_ms"], "{:.1f}"),
                status,
            )
        )
    return tables.markdown(header, cells)


def _write_report(report, prefix):
    atomic.write_json(prefix + ".json", {k: v for k, v in report.items() if k != "table"})
    hw = report["hardware"]
    atomic.write_text(
        prefix + ".md",
        f"# Export v{report['version']} of {report['weights']}\n\n"
        f"{report['date']}, {hardware.label(hw)}, TF {hw['tensorflow']}. "
        f"Samples: {', '.join(report['samples']['names'])} (LR "
        f"{report['samples']['lr_size'][0]}x{report['samples']['lr_size'][1]}).\n\n"
        f"{report['table']}\n",
    )

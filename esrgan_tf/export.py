"""python -m esrgan_tf.export --weights=PATH --output_dir=export/<name> [--tflite=fp32,int8]

A SavedModel for TensorFlow Serving and TFLite models, each compared with the Keras model
and timed, published only when all are within tolerance. Thin driver: flags ->
`ExportConfig` -> `esrgan_tf.deploy.export.export` (layout, staging, tolerances: see
there).
"""

import sys

from absl import flags

from esrgan_tf import cli
from esrgan_tf.config import GENERATORS
from esrgan_tf.deploy import export, serving, tflite
from esrgan_tf.inference.weights import resolve_model_config
from esrgan_tf.models import builders


def define_flags(fv=flags.FLAGS):
    """Flags of `python -m esrgan_tf.export` into the FlagValues `fv`."""
    kw = dict(flag_values=fv)
    flags.DEFINE_string(
        "weights",
        None,
        "Generator: a .weights.h5, a training workdir or a checkpoint prefix.",
        **kw,
    )
    flags.DEFINE_string(
        "output_dir",
        None,
        "TF Serving base path: the SavedModel goes to "
        "<output_dir>/<version>, TFLite models to <output_dir>/tflite/"
        "v<version>, the report to <output_dir>/reports.",
        **kw,
    )
    flags.DEFINE_integer("version", 0, "SavedModel version (0: the next free number).", **kw)
    flags.DEFINE_integer(
        "max_pixels",
        serving.DEFAULT_MAX_PIXELS,
        "LR pixels per SavedModel "
        "request (N*H*W; H*W per image for encoded images); more is refused.",
        **kw,
    )
    flags.DEFINE_enum(
        "precision", "fp32", sorted(builders.PRECISIONS), "SavedModel weights and maths.", **kw
    )
    flags.DEFINE_list(
        "tflite",
        list(tflite.VARIANTS),
        "TFLite variants ('' for none): " + ", ".join(tflite.VARIANTS) + ".",
        **kw,
    )
    flags.DEFINE_list(
        "tflite_shapes",
        list(tflite.SHAPES),
        "TFLite input shapes: 'dynamic' "
        "([1, -1, -1, 3]) and/or 'fixed' ([1, H, W, 3] of --input_size).",
        **kw,
    )
    flags.DEFINE_string(
        "input_size",
        "64",
        "LR size 'N' or 'HxW' of the fixed TFLite models, "
        "the parity samples and the calibration patches.",
        **kw,
    )
    flags.DEFINE_string(
        "samples",
        "skimage",
        "Parity samples: 'skimage' (its photos rocket, "
        "coffee, chelsea) or a folder of HR images (centre crops).",
        **kw,
    )
    flags.DEFINE_integer("num_samples", 3, "Parity samples.", **kw)
    flags.DEFINE_string(
        "calibration_data",
        "skimage",
        "int8 calibration patches: 'skimage', "
        "a folder of HR images, or training shards (prepare output / glob).",
        **kw,
    )
    flags.DEFINE_integer("num_calibration", 32, "Calibration patches.", **kw)
    flags.DEFINE_integer("latency_runs", 5, "Timed runs per artifact (median reported).", **kw)
    flags.DEFINE_boolean(
        "enforce_tolerances",
        True,
        "Fail, publishing nothing, when an artifact is outside its tolerance.",
        **kw,
    )
    flags.DEFINE_boolean(
        "use_ema", True, "From a training checkpoint, use its EMA generator.", **kw
    )
    cli.define_progress_flag(fv)
    cli.define_architecture_flags(GENERATORS, fv)
    flags.adopt_module_key_flags(cli, flag_values=fv)  # --help lists the shared ones too
    flags.mark_flags_as_required(["weights", "output_dir"], flag_values=fv)


def config_from_flags(fv=flags.FLAGS):
    """The `ExportConfig` of parsed flags."""
    return export.ExportConfig(
        weights=fv.weights,
        output_dir=fv.output_dir,
        model=resolve_model_config(fv.weights, cli.architecture_overrides(fv)),
        version=fv.version,
        max_pixels=fv.max_pixels,
        precision=fv.precision,
        tflite_variants=tuple(v for v in fv.tflite if v),
        tflite_shapes=tuple(s for s in fv.tflite_shapes if s),
        input_size=tflite.parse_size(fv.input_size),
        samples=fv.samples,
        num_samples=fv.num_samples,
        calibration_data=fv.calibration_data,
        num_calibration=fv.num_calibration,
        latency_runs=fv.latency_runs,
        enforce_tolerances=fv.enforce_tolerances,
        use_ema=fv.use_ema,
        progress=fv.progress,
    )


def main():
    report = export.export(config_from_flags())
    print(f"published {report['published']}", file=sys.stderr)


if __name__ == "__main__":
    define_flags()
    cli.run(main)

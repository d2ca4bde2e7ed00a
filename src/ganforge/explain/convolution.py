"""Lecture topics about DCGAN's layers: transposed-convolution arithmetic, checkerboards, and the architecture
guidelines (batch norm, LeakyReLU in D, no max pooling) as measured ablations.

    from ganforge.explain.common import Context
    from ganforge.explain.convolution import transposed_conv
    r = transposed_conv(Context(fast=True))
    r.numbers["lecture_stride2"]      # the deck's 3x3 input, 2x2 kernel, stride 2 -> 6x6, computed by PyTorch

The small matrices are the lecture's own examples, computed with ``torch.nn.functional`` and checked against
the textbook definition (scatter-add of kernel copies); the checkerboard and ablation numbers come from the
project's ``DCGANGenerator`` and short trainings on scikit-learn's digits (FID in the shipped MNIST
classifier's features).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.explain.common import Context, TopicResult, new_figure, trained_digits
from ganforge.nets.dcgan import DCGANGenerator
from ganforge.sample import eval_mode

# the deck's examples (hand-written on the slides); values as printed there
LECTURE_X1 = [[1.0, 2.0], [0.0, 3.0]]
LECTURE_K1 = [[1.0, 3.0], [2.0, 1.0]]
LECTURE_X2 = [[1.0, 0.0, 2.0], [0.0, 3.0, 1.0], [2.0, 0.0, 1.0]]
LECTURE_K2 = [[0.0, 2.0], [1.0, 1.0]]
NEAREST_X = [[1.0, 2.0], [3.0, 4.0]]


def scatter_transposed(x: np.ndarray, k: np.ndarray, stride: int, padding: int = 0) -> np.ndarray:
    """Transposed convolution by its definition: each input value places a scaled copy of the kernel at
    ``stride`` times its position; overlaps add up; ``padding`` crops that many rows/columns on each side."""
    h, w = x.shape
    kh, kw = k.shape
    out = np.zeros(((h - 1) * stride + kh, (w - 1) * stride + kw))
    for i in range(h):
        for j in range(w):
            out[i * stride:i * stride + kh, j * stride:j * stride + kw] += x[i, j] * k
    return out[padding:out.shape[0] - padding, padding:out.shape[1] - padding]


def _torch_transposed(x: list, k: list, stride: int, padding: int = 0) -> np.ndarray:
    xt = torch.tensor(x)[None, None]  # (1, 1, H, W)
    kt = torch.tensor(k)[None, None]  # (C_in=1, C_out=1, kH, kW)
    return F.conv_transpose2d(xt, kt, stride=stride, padding=padding)[0, 0].numpy()


def nyquist_fraction(images: torch.Tensor) -> float:
    """Share of an image's spectral energy (mean removed) in the row and column of frequency 1/2 cycle per
    pixel: the period-2 pattern a stride-2 layer can leave. images (B, C, H, W); mean over the batch."""
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2)  # (B, C, H, W)
    H, W = x.shape[-2:]
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[H // 2, :] = True
    mask[:, W // 2] = True
    return float((power[..., mask].sum((-1)) / power.sum((-2, -1)).clamp_min(1e-30)).mean())


def _conv_matrix(n_in: int, kernel: torch.Tensor, s: int, p: int) -> torch.Tensor:
    """The (n_out^2, n_in^2) matrix C of a 1-channel Conv2d with this (k, k) kernel: conv(x) = C vec(x)."""
    w = kernel[None, None]  # (1, 1, k, k)
    return torch.autograd.functional.jacobian(lambda v: F.conv2d(v.reshape(1, 1, n_in, n_in), w, stride=s,
                                                                 padding=p).reshape(-1), torch.zeros(n_in * n_in))


def transposed_conv(ctx: Context) -> TopicResult:
    """The lecture's transposed-convolution and upsampling grids, computed; checkerboards measured."""
    x1, k1, x2, k2 = map(np.array, (LECTURE_X1, LECTURE_K1, LECTURE_X2, LECTURE_K2))
    s1 = _torch_transposed(LECTURE_X1, LECTURE_K1, 1)  # (3, 3)
    s2a = _torch_transposed(LECTURE_X2, LECTURE_K2, 1)  # (4, 4)
    s2b = _torch_transposed(LECTURE_X2, LECTURE_K2, 2)  # (6, 6)
    # 4-2-1: kernel 4, stride 2, padding 1 doubles the size: out = (in - 1) * 2 - 2 + 4 = 2 * in
    k421 = torch.arange(1.0, 17.0).reshape(4, 4)  # a kernel whose entries are their own index, to follow them
    x421 = torch.tensor(NEAREST_X)
    d421 = F.conv_transpose2d(x421[None, None], k421[None, None], stride=2, padding=1)[0, 0]  # (4, 4)
    sizes = {n: int(F.conv_transpose2d(torch.zeros(1, 1, n, n), k421[None, None], stride=2, padding=1).shape[-1])
             for n in (2, 4, 8, 16)}
    # the deck's picture: the same thing is zero insertion (a 0 between inputs), padding k - 1 - p = 2, and an
    # ordinary convolution with the flipped kernel
    zeros_in = torch.zeros(3, 3)
    zeros_in[::2, ::2] = x421  # [[a, 0, b], [0, 0, 0], [c, 0, d]]
    via_conv = F.conv2d(F.pad(zeros_in, (2, 2, 2, 2))[None, None], k421.flip(0, 1)[None, None])[0, 0]
    # and the transposed convolution is the transpose of the convolution's matrix (hence its name)
    C = _conv_matrix(4, k421, 2, 1)  # (4, 16): Conv2d(4, 2, 1) maps 4x4 -> 2x2
    via_matrix = (C.T @ x421.reshape(-1)).reshape(4, 4)
    nearest = F.interpolate(x421[None, None], scale_factor=2, mode="nearest")[0, 0]  # (4, 4)

    # checkerboards: the project's DCGAN generator, transposed conv vs nearest resize + conv
    torch.manual_seed(ctx.seed)
    z = torch.randn(64, 100, generator=torch.Generator().manual_seed(ctx.seed))
    init = {}
    for up in ("deconv", "resize"):
        torch.manual_seed(ctx.seed)
        G = DCGANGenerator(z_dim=100, size=32, channels=1, ngf=16, upsample=up)
        with eval_mode(G):
            init[up] = G(z)  # (64, 1, 32, 32)
    trained = {}
    for up in ("deconv", "resize"):
        t = trained_digits(ctx, up)
        G = t.recipe.models["G"]
        with eval_mode(G):
            trained[up] = G(torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(ctx.seed)))
        trained[up + "_steps"] = t.history[-1]["step"]
        trained[up + "_fid"] = t.history[-1]["fid"]
    numbers = {
        "lecture_stride1": s1,
        "lecture_stride1_matches_definition": bool(np.allclose(s1, scatter_transposed(x1, k1, 1))),
        "lecture2_stride1": s2a, "lecture2_stride2": s2b,
        "lecture2_matches_definition": bool(np.allclose(s2a, scatter_transposed(x2, k2, 1))
                                            and np.allclose(s2b, scatter_transposed(x2, k2, 2))),
        "k4s2p1_input": x421, "k4s2p1_kernel": k421, "k4s2p1_output": d421,
        "k4s2p1_output_sizes": sizes,
        "k4s2p1_matches_definition": bool(np.allclose(d421.numpy(), scatter_transposed(x421.numpy(), k421.numpy(),
                                                                                         2, 1))),
        "k4s2p1_equals_zero_insertion_conv": bool(torch.allclose(d421, via_conv)),
        "k4s2p1_equals_conv_matrix_transposed": bool(torch.allclose(d421, via_matrix)),
        "nearest_x2": nearest,
        "nyquist_fraction_init_deconv": nyquist_fraction(init["deconv"]),
        "nyquist_fraction_init_resize": nyquist_fraction(init["resize"]),
        "nyquist_fraction_trained_deconv": nyquist_fraction(trained["deconv"]),
        "nyquist_fraction_trained_resize": nyquist_fraction(trained["resize"]),
        "trained_steps": trained["deconv_steps"],
        "fid_trained_deconv": trained["deconv_fid"], "fid_trained_resize": trained["resize_fid"],
        "nyquist_fraction_white_noise": float((32 + 32 - 1) / (32 * 32 - 1)),
    }

    fig = new_figure(13, 6.2)
    grids = [("lecture: 2x2 * 2x2, stride 1", s1), ("lecture: 3x3 * 2x2, stride 1", s2a),
             ("lecture: 3x3 * 2x2, stride 2", s2b), ("kernel 4, stride 2, pad 1: 2x2 -> 4x4", d421.numpy()),
             ("nearest x2: 2x2 -> 4x4", nearest.numpy())]
    for j, (title, g) in enumerate(grids):
        ax = fig.add_subplot(2, 5, j + 1)
        ax.imshow(g, cmap="Blues")
        for (r, c), v in np.ndenumerate(g):
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=7 if g.shape[0] > 4 else 9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)
    pics = [("G at init, transposed conv", init["deconv"], "nyquist_fraction_init_deconv"),
            ("G at init, resize + conv", init["resize"], "nyquist_fraction_init_resize"),
            (f"trained {trained['deconv_steps']} steps, transposed", trained["deconv"],
             "nyquist_fraction_trained_deconv"),
            (f"trained {trained['deconv_steps']} steps, resize", trained["resize"],
             "nyquist_fraction_trained_resize")]
    for j, (title, imgs, key) in enumerate(pics):
        ax = fig.add_subplot(2, 5, 6 + j)
        tile = imgs[:4, 0].detach()  # (4, 32, 32)
        ax.imshow(torch.cat([torch.cat([tile[0], tile[1]], 1), torch.cat([tile[2], tile[3]], 1)], 0).numpy(),
                  cmap="gray")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{title}\nperiod-2 energy {numbers[key]:.4f}", fontsize=8)
    ax = fig.add_subplot(2, 5, 10)
    labels = ["init", "trained"]
    for off, up in ((-0.2, "deconv"), (0.2, "resize")):
        vals = [numbers[f"nyquist_fraction_init_{up}"], numbers[f"nyquist_fraction_trained_{up}"]]
        ax.bar(np.arange(2) + off, vals, width=0.4, label=up)
    ax.axhline(numbers["nyquist_fraction_white_noise"], color="grey", ls=":", label="white noise")
    ax.set_xticks(range(2), labels)
    ax.set_title("energy at the stride period", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    summary = (f"4-2-1 maps {sizes}; equals zero insertion + conv: {numbers['k4s2p1_equals_zero_insertion_conv']}, "
               f"equals C^T x: {numbers['k4s2p1_equals_conv_matrix_transposed']}; period-2 energy at init "
               f"{numbers['nyquist_fraction_init_deconv']:.3f} (deconv) vs "
               f"{numbers['nyquist_fraction_init_resize']:.3f} (resize), trained "
               f"{numbers['nyquist_fraction_trained_deconv']:.4f} vs "
               f"{numbers['nyquist_fraction_trained_resize']:.4f}")
    return TopicResult(numbers, fig, summary)


# --------------------------------------------------------------------------- 8. architecture guidelines

ABLATIONS = {  # name -> what changes; "baseline" is the `resize` digits run, shared with `upsampling`
    "baseline": "DCGAN (batch norm, LeakyReLU(0.2) in D, strided convs) with resize-conv upsampling in G",
    "no-batchnorm": "every BatchNorm2d in G and D replaced by the identity",
    "relu-in-D": "D's LeakyReLU(0.2) replaced by ReLU",
    "maxpool-in-D": "D's stride-2 convs replaced by 3x3 conv + 2x2 max pooling",
}


def architecture(ctx: Context) -> TopicResult:
    """Batch norm, LeakyReLU in D, no max pooling: the same short DCGAN training with one guideline broken."""
    runs = {name: trained_digits(ctx, "resize" if name == "baseline" else name) for name in ABLATIONS}
    numbers: dict = {"data": "scikit-learn digits at 32 px", "fid_features": "shipped MNIST classifier",
                     "steps": runs["baseline"].history[-1]["step"], "variants": ABLATIONS}
    for name, t in runs.items():
        numbers[f"fid_{name}"] = [h["fid"] for h in t.history]
        numbers[f"final_fid_{name}"] = t.history[-1]["fid"]
        numbers[f"best_fid_{name}"] = min(h["fid"] for h in t.history)
        numbers[f"grad_G_{name}"] = [h.get("Grad/G", float("nan")) for h in t.history]
        numbers[f"grad_D_{name}"] = [h.get("Grad/D", float("nan")) for h in t.history]
        numbers[f"layers_changed_{name}"] = t.replaced
    numbers["eval_steps"] = [h["step"] for h in runs["baseline"].history]
    fig = new_figure(11, 3.6)
    ax = fig.add_subplot(1, 3, 1)
    for name in runs:
        ax.plot(numbers["eval_steps"], numbers[f"fid_{name}"], "o-", ms=3, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("FID (MNIST-classifier features)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.set_title("FID over training")
    ax = fig.add_subplot(1, 3, 2)
    ax.bar(range(len(runs)), [numbers[f"final_fid_{n}"] for n in runs], color=[f"C{i}" for i in range(len(runs))])
    ax.set_xticks(range(len(runs)), list(runs), rotation=20, fontsize=7)
    ax.set_title(f"FID at step {numbers['steps']} (lower is better)")
    ax = fig.add_subplot(1, 3, 3)
    for name in runs:
        ax.plot(numbers["eval_steps"], numbers[f"grad_G_{name}"], "o-", ms=3, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("mean Grad/G")
    ax.set_yscale("log")
    ax.set_title("gradient reaching G")
    fig.tight_layout()
    summary = f"FID at step {numbers['steps']}: " + ", ".join(f"{n} {numbers[f'final_fid_{n}']:.1f}" for n in runs)
    return TopicResult(numbers, fig, summary)

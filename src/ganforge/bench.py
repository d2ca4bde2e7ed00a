"""``ganforge bench MODEL``: how fast a model trains and samples here, and how close that is to the hardware.

    ganforge bench mnist --set data.size=64                 # a preset (with overrides), on the default device
    ganforge bench runs/mnist --device cuda --json          # a run folder's config

Measures, on the model's own recipe and the loop's own ``train_iteration``:

* train img/s: generator images per second of training iterations (``train.batch_size`` per
  iteration; the k = ``train.d_steps`` critic updates of an iteration are included in its time);
* sample img/s: ``G`` (``G_ema`` when kept) in eval mode without gradients, same batch;
* FLOPs per training image, counted with ``torch.utils.flop_counter.FlopCounterMode`` over one
  iteration (every forward and backward matmul/convolution);
* the device's matmul peak in the dtype the loop runs in, measured with a timed large matmul (TF32 on
  CUDA when the loop uses it, bf16 / fp16 when ``train.amp`` runs in it, as ``auto`` does where bf16
  is faster here; on the CPU the faster of BLAS and oneDNN, see :func:`matmul_peak`);
* MFU (model FLOP utilisation) = FLOPs per image x train img/s / peak.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import Any

import torch

from ganforge.config import Config


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, n: int | None = None,
                seconds: float = 1.0) -> float:
    """FLOP/s of a large square matrix product on ``device`` (the best of a few timed repeats).

    On the CPU the product is timed two ways, ``torch.mm`` (BLAS: MKL) and a 1x1 convolution (the same
    n x n x n product through oneDNN, which runs the networks' convolutions), and the faster counts:
    MKL takes its AVX2 path on AMD processors, so ``torch.mm`` alone measured half of what oneDNN
    reaches on the AVX-512 development machine, and MFU came out above 100%.
    """
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    products: list[Callable[[], object]] = [lambda: torch.mm(a, b)]
    if device.type == "cpu":  # an n-channel image of n pixels times an (n, n, 1, 1) kernel: 2 n^3 FLOPs
        h = 32 if n % 32 == 0 else 1
        x, w = a.reshape(1, n, h, n // h), b.reshape(n, n, 1, 1)
        products.append(lambda: torch.nn.functional.conv2d(x, w))
    best = 0.0
    for product in products:
        product()
        _sync(device)
        spent = 0.0
        while spent < seconds / len(products) or spent == 0.0:
            t = time.perf_counter()
            product()
            _sync(device)
            dt = time.perf_counter() - t
            spent += dt
            best = max(best, 2 * n**3 / dt)
    return best


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak resident set


def bench(cfg: Config, device: torch.device, iters: int = 5, warmup: int = 2, peak_seconds: float = 1.0
          ) -> dict[str, Any]:
    """Measure ``cfg`` (resolved and validated) on ``device``; returns the figures as a dict.

    As in training, a CPU run keeps freed memory in the process while it is measured (``train.keep_memory``).
    """
    from ganforge import speed

    with speed.freed_memory_kept(device.type == "cpu" and cfg.train.keep_memory):
        return _bench(cfg, device, iters, warmup, peak_seconds)


def _bench(cfg: Config, device: torch.device, iters: int, warmup: int, peak_seconds: float) -> dict[str, Any]:
    from ganforge import dist, speed
    from ganforge.loop import seed_everything, train_iteration
    from ganforge.recipes import recipe_module

    seed_everything(cfg.seed)
    recipe = recipe_module(cfg).build(cfg, device)
    speed.check_speed_options(cfg, device)
    dist.check_ddp_options(cfg, device)
    dist.sync_batch_norm(recipe, cfg)
    speed.prepare(recipe, cfg, device)
    dist.wrap_recipe(recipe, device)
    B = cfg.train.batch_size
    acc: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    step = 0
    t0 = time.perf_counter()
    for _ in range(warmup):  # includes torch.compile's compilation when train.compile is on
        train_iteration(recipe, step, acc, counts)
        step += 1
    _sync(device)
    warmup_s = time.perf_counter() - t0

    from torch.utils.flop_counter import FlopCounterMode

    # FlopCounterMode cannot follow autograd.grad (R1's double backward): count an iteration without the lazy
    # phases, which run every k-th iteration (train.r1_every); the ones skipped here run uncounted
    lazy = [p.interval for p in recipe.phases if p.interval > 1]
    while any(step % k == 0 for k in lazy):
        train_iteration(recipe, step, acc, counts)
        step += 1
    with FlopCounterMode(display=False) as counter:
        train_iteration(recipe, step, acc, counts)
    step += 1
    flops_per_image = counter.get_total_flops() / B

    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        train_iteration(recipe, step, acc, counts)
        step += 1
    torch.stack(list(acc.values())).sum().item()  # wait for the device once, at the end
    train_ips = iters * B / (time.perf_counter() - t0)

    G = dist.unwrap(recipe.models.get("G_ema", recipe.models["G"]))
    z_dim = getattr(cfg.model, "z_dim", None)  # translators have no noise input
    k = getattr(G, "num_classes", 0)  # a label input: classes, InfoGAN codes or clusters
    source = recipe.next_batch()["A"] if cfg.data_kind == "pairs" else None  # translation: G maps a batch of inputs
    was = G.training
    G.eval()
    with torch.no_grad(), recipe.autocast():
        def draw() -> torch.Tensor:
            if source is not None:
                return getattr(G, "G", G)(source)  # cyclegan: the pair's A -> B generator
            z = torch.randn(B, z_dim, device=device)
            return G(z) if not k else G(z, torch.randint(k, (B,), device=device))

        draw()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            out = draw()
        out.sum().item()
        sample_ips = iters * B / (time.perf_counter() - t0)
    G.train(was)

    dtype = speed.AMP_DTYPES.get(speed.resolve_amp(cfg, device), torch.float32)  # the peak of what ran
    peak = matmul_peak(device, dtype, seconds=peak_seconds)
    achieved = flops_per_image * train_ips
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} "
                                                                                   "threads)",
        "batch_size": B,
        "d_steps": cfg.train.d_steps,
        "train_img_per_s": train_ips,
        "sample_img_per_s": sample_ips,
        "gflop_per_train_image": flops_per_image / 1e9,
        "achieved_gflop_per_s": achieved / 1e9,
        "peak_gflop_per_s": peak / 1e9,
        "peak_dtype": str(dtype).replace("torch.", ""),
        "mfu": achieved / peak,
        "peak_memory_mb": _peak_memory_mb(device),
        "warmup_s": warmup_s,
        "options": {"channels_last": cfg.train.channels_last, "compile": cfg.train.compile, "amp": cfg.train.amp,
                    "amp_ran": speed.amp_summary(cfg, device), "reuse_fake": cfg.train.reuse_fake,
                    "keep_memory": cfg.train.keep_memory},
    }


def table(result: dict[str, Any]) -> str:
    """The figures as a two-column plain-text table."""
    rows = [
        ("device", str(result["device"])),
        ("precision", str(result.get("options", {}).get("amp_ran", "fp32"))),
        ("batch (d_steps)", f"{result['batch_size']} ({result['d_steps']})"),
        ("train img/s", f"{result['train_img_per_s']:.1f}"),
        ("sample img/s", f"{result['sample_img_per_s']:.1f}"),
        ("GFLOP / train image", f"{result['gflop_per_train_image']:.3f}"),
        ("achieved GFLOP/s", f"{result['achieved_gflop_per_s']:.1f}"),
        (f"{result['peak_dtype']} matmul peak GFLOP/s", f"{result['peak_gflop_per_s']:.1f}"),
        ("MFU", f"{100 * result['mfu']:.1f}%"),
        ("peak memory MB", f"{result['peak_memory_mb']:.0f}"),
        ("warm-up s", f"{result['warmup_s']:.1f}"),
    ]
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)

"""Inference for StyleGAN runs: truncation, W-space walks, style mixing, noise, projection, path length.

    run = ganforge.load_run("runs/stylegan")          # a StyleRun: StyleModel + run-folder helpers
    x = run.sample(16, truncation=0.7)                 # (16, H, W, C) uint8, w pulled towards w_avg
    run.save_interpolation("walk.png", space="w")      # lerp between w's (z: slerp)
    run.save_mix("mix.png", rows=4, cols=4, layers="coarse")   # B's coarse styles on A's images
    run.save_noise("noise.png", seed=3, n=8)           # same styles, new noise; per-pixel std map
    p = run.project(images, space="w+", steps=300)     # latents reconstructing real images (N, C, H, W)
    run.path_length("w")                               # PPL-style smoothness in the classifier's features

The functions below take a :class:`~ganforge.nets.stylegan.StyleGenerator` (``G``) and plain tensors, so
other front ends (the lecture companion, the web app) can call them; :class:`StyleModel` wraps them for a
run. Layers are the generator's style inputs: two per resolution, layer ``2k`` and ``2k + 1`` at
``4 * 2^k`` px. Groups, as in the paper (coarse 4-8 px, middle 16-32 px, fine 64 px and up), with the final
resolution always fine for small images: at 32 px coarse = 4 and 8 px (layers 0-3), middle = 16 px (4-5),
fine = 32 px (6-7).
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.pixels import to_signed, to_uint8
from ganforge.sample.images import ImageModel
from ganforge.sample.limits import check_picture
from ganforge.sample.toy import eval_mode

SPACES = ("z", "w")
PROJECT_SPACES = ("w", "w+")


# --------------------------------------------------------------------------- layers and mixing

def layer_groups(G: nn.Module) -> dict[str, tuple[int, int]]:
    """{"coarse" | "middle" | "fine": (first, last + 1)} style-layer index ranges of ``G`` (empty ones left out)."""
    res = list(G.synthesis.layer_res)
    final = res[-1]

    def group(r: int) -> str:
        if r >= 64 or r == final:
            return "fine"
        return "coarse" if r <= 8 else "middle"

    out: dict[str, tuple[int, int]] = {}
    for i, r in enumerate(res):
        g = group(r)
        out[g] = (out[g][0], i + 1) if g in out else (i, i + 1)
    return out


def parse_layers(spec: str, G: nn.Module) -> tuple[int, int]:
    """``coarse`` / ``middle`` / ``fine`` or ``A-B`` (layer indices, both included) or ``K`` -> (first, last + 1)."""
    spec = str(spec).strip()
    groups = layer_groups(G)
    if spec in ("coarse", "middle", "fine"):
        if spec not in groups:
            raise GanforgeError(f"a {G.size} px generator has no {spec} layers; use one of "
                                f"{', '.join(groups)} or an index range A-B within 0-{G.num_ws - 1}")
        return groups[spec]
    try:
        a, _, b = spec.partition("-")
        lo, hi = int(a), int(b) if b else int(a)
    except ValueError:
        raise GanforgeError(f"layers must be coarse, middle, fine or an index range A-B (e.g. 0-3), got "
                            f"{spec[:40]!r}{'...' if len(spec) > 40 else ''}") from None
    if not 0 <= lo <= hi < G.num_ws:
        raise GanforgeError(f"layer range {spec[:40]!r} is outside this generator's layers 0-{G.num_ws - 1}")
    return lo, hi + 1


def mix_ws(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: tuple[int, int]) -> torch.Tensor:
    """Every A with every B's styles on ``layers``: ws_a (R, L, D), ws_b (K, L, D) -> (R, K, L, D)."""
    lo, hi = layers
    out = ws_a[:, None].repeat(1, ws_b.shape[0], 1, 1)  # (R, K, L, D)
    out[:, :, lo:hi] = ws_b[None, :, lo:hi]
    return out


def _slerp_batch(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the directions of rows of a, b (B, D) at t (B,): unit vectors."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    omega = torch.arccos((a * b).sum(1, keepdim=True).clamp(-1, 1))  # (B, 1)
    t = t[:, None]
    so = torch.sin(omega).clamp_min(1e-7)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


# --------------------------------------------------------------------------- projection

@torch.no_grad()
def w_stats(G: nn.Module, n: int = 2000, seed: int = 0) -> tuple[torch.Tensor, float]:
    """The mean w (the truncation centre) and the average distance of w from it, over ``n`` random z."""
    dev = G.w_avg.device
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
    w = G.mapping(z)  # (n, w_dim)
    mean = w.mean(0)
    return mean, float((w - mean).pow(2).sum(1).mean().sqrt())


def project(G: nn.Module, target: torch.Tensor, space: str = "w", steps: int = 300, lr: float = 0.1,
            features: nn.Module | None = None, feature_weight: float = 0.0, seed: int = 0,
            noise_ramp: float = 0.75, w_noise: float = 0.05) -> dict[str, Any]:
    """Optimise latents so that G reconstructs ``target`` (N, C, H, W) in [-1, 1] (Karras et al., 2020, sec. 5).

    Starts every image at the mean w; ``space="w"`` optimises one w per image, broadcast to every layer;
    ``"w+"`` one w per layer. Adam with the learning rate ramped up over the first 5% and down (cosine)
    over the last 25% of ``steps``; Gaussian noise of ``w_noise`` x the spread of W is added to w, fading
    to 0 by ``noise_ramp`` of the way (the paper's exploration noise). The loss per image is the pixel
    MSE, plus ``feature_weight`` x the MSE of ``features`` (e.g. the digit classifier's) if given. The
    noise inputs are held at the generator's fixed noise maps (``noise_mode="const"``). The images are
    optimised together but independently (the loss is a sum over images and Adam is elementwise).

    Returns {"ws": (N, num_ws, w_dim), "images": (N, C, H, W) reconstructions, "losses": (steps, N) numpy,
    "mse": (N,) numpy final pixel MSE}.
    """
    if space not in PROJECT_SPACES:
        raise GanforgeError(f"space must be one of {', '.join(PROJECT_SPACES)}, got {space!r}")
    if steps < 1:
        raise GanforgeError(f"steps must be >= 1, got {steps}")
    if not (math.isfinite(lr) and lr > 0):
        raise GanforgeError(f"lr must be a finite number > 0, got {lr!r}")
    if not (math.isfinite(feature_weight) and feature_weight >= 0):
        raise GanforgeError(f"feature_weight must be a finite number >= 0, got {feature_weight!r}")
    shape = (G.channels, G.size, G.size)
    if target.ndim != 4 or tuple(target.shape[1:]) != shape:
        raise GanforgeError(f"target images must have shape (N, {', '.join(map(str, shape))}), "
                            f"got {tuple(target.shape)}")
    dev = G.w_avg.device
    target = target.to(dev).float()
    N, L = target.shape[0], G.num_ws
    w_mean, w_spread = w_stats(G, seed=seed)
    k = 1 if space == "w" else L
    w = w_mean[None, None].repeat(N, k, 1).clone().requires_grad_(True)  # (N, 1 or L, w_dim)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    g = torch.Generator().manual_seed(seed)
    target_f = features(target).detach() if features is not None and feature_weight > 0 else None
    history = []
    params = list(G.parameters())
    was = [p.requires_grad for p in params]
    training = G.training
    G.eval().requires_grad_(False)
    try:
        for i in range(steps):
            t = i / steps
            ramp = min(1.0, (1 - t) / 0.25)
            rate = lr * (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / 0.05 if t > 0 else 0.05)
            for group in opt.param_groups:
                group["lr"] = rate
            scale = w_spread * w_noise * max(0.0, 1 - t / noise_ramp) ** 2
            jitter = torch.randn(w.shape, generator=g).to(dev) * scale
            img = G.synthesis((w + jitter).expand(N, L, -1), noise_mode="const")  # (N, C, H, W)
            per_image = (img - target).pow(2).flatten(1).mean(1)  # (N,)
            if target_f is not None:
                per_image = per_image + feature_weight * (features(img) - target_f).pow(2).mean(1)
            opt.zero_grad(set_to_none=True)
            per_image.sum().backward()
            opt.step()
            history.append(per_image.detach().cpu())
        with torch.no_grad():
            ws = w.detach().expand(N, L, -1).clone()
            images = G.synthesis(ws, noise_mode="const")
            mse = (images.clamp(-1, 1) - target).pow(2).flatten(1).mean(1)
    finally:
        for p, r in zip(params, was, strict=True):
            p.requires_grad_(r)
        G.train(training)
    return {"ws": ws.cpu(), "images": images.cpu(), "losses": torch.stack(history).numpy(),
            "mse": mse.cpu().numpy()}


# --------------------------------------------------------------------------- path length

@torch.no_grad()
def path_length(G: nn.Module, features: nn.Module, space: str = "w", n: int = 1000, eps: float = 1e-4,
                seed: int = 0, batch: int = 100) -> dict[str, float]:
    """Perceptual-path-length-style smoothness (Karras et al., 2019, sec. 4.2) in ``features``' space.

    For ``n`` random pairs and t ~ U(0, 1): the squared feature distance between the images at t and
    t + eps along the path, / eps^2. Paths: slerp between the directions of z (space "z"), lerp between
    w = f(z) (space "w"). Noise is held fixed (the generator's constant maps). Values outside the 1st-99th
    percentiles are dropped, as in the paper; returns the mean, the median and n kept.
    """
    if space not in SPACES:
        raise GanforgeError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    g = torch.Generator().manual_seed(seed)
    dev = G.w_avg.device
    dists = []
    with eval_mode(G):
        for s in range(0, n, batch):
            b = min(batch, n - s)
            z0, z1 = (torch.randn(b, G.z_dim, generator=g).to(dev) for _ in range(2))
            t = torch.rand(b, generator=g).to(dev)
            if space == "z":
                za, zb = _slerp_batch(z0, z1, t), _slerp_batch(z0, z1, t + eps)
                w = G.mapping(torch.cat([za, zb]) * math.sqrt(G.z_dim))  # (2b, w_dim)
            else:
                w0, w1 = G.mapping(z0), G.mapping(z1)
                tt = torch.cat([t, t + eps])[:, None]
                w = torch.cat([w0, w0]).lerp(torch.cat([w1, w1]), tt)  # (2b, w_dim)
            img = G.synthesis(w[:, None].expand(-1, G.num_ws, -1), noise_mode="const").clamp(-1, 1)
            f = features(img).float()  # (2b, dim)
            dists.append((f[:b] - f[b:]).pow(2).sum(1).cpu() / eps ** 2)
    d = torch.cat(dists).double().numpy()
    lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
    kept = d[(d >= lo) & (d <= hi)]
    return {"ppl": float(kept.mean()), "median": float(np.median(kept)), "n": int(len(kept)), "eps": eps}


# --------------------------------------------------------------------------- the run-level wrapper

class StyleModel(ImageModel):
    """An :class:`ImageModel` for StyleGAN runs: truncation, W-space walks, mixing, noise, projection.

    Sampling draws the per-pixel noise from the same seeded generator as z, so a seed gives the same
    images; ``truncation`` (psi) pulls each w towards ``G.w_avg``.
    """

    truncation: float = 1.0  # the default psi for generate / sample / grids

    @property
    def capabilities(self) -> frozenset[str]:
        return super().capabilities | {"style"}

    def report_pictures(self, run_dir: Path) -> list[tuple[Path, str]]:
        mix = run_dir / "mix.png"
        self.save_mix(mix, rows=4, cols=4, layers="coarse")
        caption = ("Style mixing: the left column holds 4 generated images A (seed 0), the top row 4 images B "
                   "(seed 1); each cell is A with B's styles on the coarse layers (overall shape from B, finer "
                   "detail from A).")
        return super().report_pictures(run_dir) + [(mix, caption)]

    def report_commands(self, run_dir: Path) -> list[str]:
        d = run_dir
        return super().report_commands(run_dir) + [
            f"ganforge sample {d} --n 64 --truncation 0.7 --out truncated.png",
            f"ganforge interpolate {d} --space w --steps 10 --out walk_w.png",
            f"ganforge mix {d} --rows 4 --cols 4 --layers fine --out mix_fine.png",
            f"ganforge noise {d} --seed 3 --n 8 --out noise.png",
            f"ganforge project {d} --image photo.png --space w+ --steps 300 --out projection",
        ]

    def _noise(self, n: int, g: torch.Generator) -> list[torch.Tensor]:
        return self.G.synthesis.make_noise(n, generator=g, device=self.device)

    def generate(self, n: int, seed: int = 0, labels: Any = None, batch: int = 500,
                 z: torch.Tensor | None = None, truncation: float | None = None) -> torch.Tensor:
        """``n`` images, float32 (n, C, H, W) in [-1, 1] on the CPU; ``z`` (n, z_dim) overrides the noise z."""
        if n < 1:
            raise GanforgeError(f"n must be >= 1, got {n}")
        self.labels_for(n, labels)  # unconditional: refuses labels with a clear message
        psi = self.truncation if truncation is None else float(truncation)
        if not -2 <= psi <= 2:  # w = w_avg + psi (w - w_avg): beyond +-2 it extrapolates far from the data
            raise GanforgeError(f"--truncation for a StyleGAN run must be from -2 to 2 (1 = off, 0 = the average "
                                f"image), got {psi:g}")
        g = torch.Generator().manual_seed(seed)
        if z is None:
            z = torch.randn(n, self.G.z_dim, generator=g)
        else:  # noise maps of their own for each block of given z (evaluation streams z in blocks)
            g.manual_seed(seed * 1_000_003 + zlib.crc32(z.detach().cpu().float().numpy().tobytes()))
        out = []
        with eval_mode(self.G):
            for s in range(0, n, batch):
                zb = z[s:s + batch].to(self.device)
                x = self.G(zb, truncation_psi=psi, noise=self._noise(len(zb), g))  # (b, C, H, W)
                out.append(x.float().clamp(-1, 1).cpu())
        return torch.cat(out)

    def synthesize(self, ws: torch.Tensor, noise_mode: str = "const", batch: int = 500) -> torch.Tensor:
        """Images from per-layer latents ws (N, num_ws, w_dim) (e.g. a projection, edited): (N, C, H, W)."""
        if ws.ndim == 2:
            ws = ws[:, None].expand(-1, self.G.num_ws, -1)
        out = []
        with eval_mode(self.G):
            for s in range(0, len(ws), batch):
                out.append(self.G.synthesis(ws[s:s + batch].to(self.device), noise_mode=noise_mode)
                           .float().clamp(-1, 1).cpu())
        return torch.cat(out)

    def ws_for(self, n: int, seed: int = 0, truncation: float | None = None) -> torch.Tensor:
        """Per-layer latents of ``n`` seeded samples: (n, num_ws, w_dim) on the CPU."""
        psi = self.truncation if truncation is None else float(truncation)
        z = torch.randn(n, self.G.z_dim, generator=torch.Generator().manual_seed(seed))
        with eval_mode(self.G):
            return self.G.map(z.to(self.device), truncation_psi=psi).cpu()

    def sample(self, n: int, seed: int = 0, labels: Any = None, truncation: float | None = None) -> np.ndarray:
        return to_uint8(self.generate(n, seed, labels, truncation=truncation)).permute(0, 2, 3, 1).numpy()

    def grid(self, n: int = 64, seed: int = 0, labels: Any = None, nrow: int | None = None,
             truncation: float | None = None) -> torch.Tensor:
        from ganforge.pixels import make_grid

        self._check_grid(n)
        x = self.generate(n, seed, labels, truncation=truncation)
        return make_grid((x + 1) / 2, nrow=nrow or int(np.ceil(np.sqrt(n))), padding=2, pad_value=1.0)

    def save_grid(self, path: str | Path, n: int = 64, seed: int = 0, labels: Any = None,
                  nrow: int | None = None, truncation: float | None = None) -> Path:
        from ganforge.pixels import save_image

        path = Path(path)
        grid = self.grid(n, seed, labels, nrow, truncation)  # refused sizes leave nothing behind
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        return path

    # ---------------------------------------------------------------- walks

    def interpolate(self, rows: int = 4, steps: int = 10, method: str | None = None, seed: int = 0,
                    labels: Any = None, space: str = "z") -> torch.Tensor:
        """Walks between random pairs, in z (slerp by default) or in w (lerp by default):
        (rows, steps, C, H, W). The noise maps stay fixed along a walk, so only the latent moves."""
        from ganforge.latent import interpolate

        if space not in SPACES:
            raise GanforgeError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
        if rows < 1:
            raise GanforgeError(f"rows must be >= 1, got {rows}")
        self.labels_for(rows, labels)
        method = method or ("slerp" if space == "z" else "lerp")
        ends = torch.randn(rows, 2, self.G.z_dim, generator=torch.Generator().manual_seed(seed))
        with eval_mode(self.G):
            if space == "w":
                ends = self.G.mapping(ends.flatten(0, 1).to(self.device)).cpu().reshape(rows, 2, -1)
            try:
                path = torch.cat([interpolate(e[0], e[1], steps, method) for e in ends])  # (rows * steps, dim)
            except ValueError as e:
                raise GanforgeError(str(e)) from None
            if space == "z":
                ws = self.G.map(path.to(self.device), truncation_psi=self.truncation)
            else:
                ws = self.G.truncate(path.to(self.device)[:, None].expand(-1, self.G.num_ws, -1), self.truncation)
        x = self.synthesize(ws)
        return x.reshape(rows, steps, *x.shape[1:])

    def save_interpolation(self, path: str | Path, rows: int = 4, steps: int = 10, method: str | None = None,
                           seed: int = 0, labels: Any = None, frame_ms: int = 120, space: str = "z") -> Path:
        """As :meth:`ImageModel.save_interpolation`, walking in z or w (``space``)."""
        return super().save_interpolation(path, rows, steps, method, seed, labels, frame_ms, space=space)

    # ---------------------------------------------------------------- mixing and noise

    def mix(self, rows: int = 4, cols: int = 4, layers: str | tuple[int, int] = "coarse", seed: int = 0,
            ws_a: torch.Tensor | None = None) -> torch.Tensor:
        """The style-mixing grid: (rows + 1, cols + 1, C, H, W) in [-1, 1]. Row 0 holds the sources B
        (from column 1), column 0 the sources A (from row 1), cell (i, j) is A_i with B_j's styles on
        ``layers`` ("coarse", "middle", "fine", "A-B" indices or a (first, last + 1) pair); the corner
        is blank. ``ws_a`` (rows, num_ws, w_dim), e.g. a projected real image, replaces the random A's."""
        lo_hi = parse_layers(layers, self.G) if isinstance(layers, str) else tuple(layers)
        if (ws_a is None and rows < 1) or cols < 1 or (ws_a is not None and len(ws_a) < 1):
            raise GanforgeError(f"a mixing grid needs rows >= 1 and cols >= 1, got {rows if ws_a is None else 0} "
                                f"and {cols}")
        if ws_a is None:
            ws_a = self.ws_for(rows, seed)
        rows = len(ws_a)
        ws_b = self.ws_for(cols, seed + 1)
        mixed = mix_ws(ws_a, ws_b, lo_hi)  # (rows, cols, L, D)
        x = self.synthesize(torch.cat([ws_a, ws_b, mixed.flatten(0, 1)]))
        a, b, m = x[:rows], x[rows:rows + cols], x[rows + cols:].reshape(rows, cols, *x.shape[1:])
        blank = torch.ones_like(a[:1])
        top = torch.cat([blank, b])[None]  # (1, cols + 1, C, H, W)
        body = torch.cat([a[:, None], m], 1)  # (rows, cols + 1, C, H, W)
        return torch.cat([top, body])

    def save_mix(self, path: str | Path, rows: int = 4, cols: int = 4, layers: str | tuple[int, int] = "coarse",
                 seed: int = 0, ws_a: torch.Tensor | None = None) -> Path:
        from ganforge.pixels import make_grid, save_image

        tiles = ((rows if ws_a is None else len(ws_a)) + 1) * (cols + 1)
        check_picture(tiles, self.G.size, self.G.size, "a mixing grid", "lower rows or cols")
        x = self.mix(rows, cols, layers, seed, ws_a)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(make_grid((x.flatten(0, 1) + 1) / 2, nrow=x.shape[1], padding=2, pad_value=1.0), path)
        return path

    def noise_variation(self, seed: int = 0, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        """One sample's styles with ``n`` different noise draws: images (n, C, H, W) in [-1, 1] and the
        per-pixel standard deviation over them (H, W), averaged over channels."""
        if n < 2:
            raise GanforgeError(f"n must be >= 2 to show what the noise changes, got {n}")
        ws = self.ws_for(1, seed).to(self.device).expand(n, -1, -1)
        g = torch.Generator().manual_seed(seed + 1)
        with eval_mode(self.G):
            x = self.G.synthesis(ws, noise=self._noise(n, g)).float().clamp(-1, 1).cpu()
        return x, x.std(0).mean(0)

    def save_noise(self, path: str | Path, seed: int = 0, n: int = 8) -> Path:
        """A row of ``n`` noise draws of one sample, then the per-pixel std map (white = most variation)."""
        from ganforge.pixels import make_grid, save_image

        check_picture(n + 1, self.G.size, self.G.size, "a noise picture", "lower n")
        x, std = self.noise_variation(seed, n)
        std_img = (std / std.max().clamp_min(1e-8))[None].expand(x.shape[1], -1, -1)  # (C, H, W) in [0, 1]
        pics = torch.cat([(x + 1) / 2, std_img[None]])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(make_grid(pics, nrow=n + 1, padding=2, pad_value=1.0), path)
        return path

    # ---------------------------------------------------------------- projection and smoothness

    def project(self, images: torch.Tensor | np.ndarray | str | Path, space: str = "w", steps: int = 300,
                lr: float = 0.1, feature_weight: float = 0.0, seed: int = 0) -> dict[str, Any]:
        """Embed real images in W or W+ (see :func:`project`). ``images``: an image file, float (N, C, H, W)
        in [-1, 1] or uint8 (N, H, W, C) as :meth:`sample` returns. ``feature_weight`` > 0 adds the
        feature-space loss of this run's feature network (the digit classifier on digits)."""
        if isinstance(images, (str, Path)):
            images = read_image(images, self.G.size, self.G.channels)
        x = torch.as_tensor(images)
        if x.dtype == torch.uint8:
            x = to_signed(x.permute(0, 3, 1, 2))
        feats = self.extractor() if feature_weight > 0 else None
        return project(self.G, x, space, steps, lr, feats, feature_weight, seed)

    def path_length(self, space: str = "w", n: int = 1000, eps: float = 1e-4, seed: int = 0,
                    features: str | None = None) -> dict[str, float]:
        """PPL-style smoothness of z or w walks in the feature space of ``features`` (default: the run's)."""
        out = path_length(self.G, self.extractor(features), space, n, eps, seed)
        out["features"] = getattr(self.extractor(features), "name", str(features))
        return out


# --------------------------------------------------------------------------- files

def read_image(path: str | Path, size: int, channels: int) -> torch.Tensor:
    """One image file -> float (1, channels, size, size) in [-1, 1] (shorter side resized, centre crop)."""
    from ganforge.data.formats import read_image as read_file  # a DataError naming the file when unreadable
    from ganforge.data.imageset import convert

    path = Path(path).expanduser()
    if not path.is_file():
        raise GanforgeError(f"image file {path} does not exist")
    return to_signed(convert(read_file(path), size, channels)[None])


def save_projection(model: StyleModel, image: str | Path, out: str | Path, space: str = "w", steps: int = 300,
                    lr: float = 0.1, feature_weight: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Project one image file and write ``out/latent.npy`` ((num_ws, w_dim) float32), ``reconstruction.png``
    (target | reconstruction), ``loss.png`` (loss per step) and ``projection.json``; returns the summary."""
    import json

    from matplotlib.figure import Figure

    from ganforge.pixels import make_grid, save_image

    G = model.G
    target = read_image(image, G.size, G.channels)
    r = model.project(target, space=space, steps=steps, lr=lr, feature_weight=feature_weight, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "latent.npy", r["ws"][0].numpy().astype(np.float32))
    pair = torch.cat([target, r["images"].clamp(-1, 1)])
    save_image(make_grid((pair + 1) / 2, nrow=2, padding=2, pad_value=1.0), out / "reconstruction.png")
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.arange(1, steps + 1), r["losses"][:, 0])
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (pixel MSE" + (" + features)" if feature_weight > 0 else ")"))
    ax.set_title(f"projection into {space.upper()}")
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    mse = float(r["mse"][0])
    summary = {"image": str(image), "space": space, "steps": steps, "lr": lr, "feature_weight": feature_weight,
               "seed": seed, "mse": mse, "psnr": float(10 * np.log10(4.0 / max(mse, 1e-12))),  # range [-1, 1]
               "loss_first": float(r["losses"][0, 0]), "loss_last": float(r["losses"][-1, 0]),
               "run": str(getattr(model, "run_dir", "")), "step": getattr(model, "step", None)}
    (out / "projection.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary

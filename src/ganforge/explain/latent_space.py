"""Lecture topic: latent-space interpolation, lerp vs slerp, and StyleGAN's z vs w.

    from ganforge.explain.common import Context
    from ganforge.explain.latent_space import latent
    r = latent(Context(run_dir=Path("runs/mnist")))   # pictures from your image run; else a small one is trained
    r.numbers["lerp_mid_norm_ratio"]                   # ~0.71: the straight line dips inside the typical set

The norms use ``ganforge.latent`` (the same lerp/slerp as ``ganforge interpolate``); the pictures and the
classifier's confidence along each path use the sampler (``ImageModel.interpolate``).

StyleGAN's z vs w: given a StyleGAN run (``--run``; its generator has ``mapping(z) -> w``), the page adds a
walk in w beside the walks in z, and the perceptual-path-length-style smoothness of both walks in the digit
classifier's features (``StyleModel.path_length``): the lecture's claim is that w, unwarped by the mapping
network, gives the shorter (smoother) paths. Without a StyleGAN run the page says how to get one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.stats import chi

from ganforge.explain.common import Context, TopicResult, new_figure, trained_digits
from ganforge.latent import interpolate
from ganforge.pixels import make_grid


def latent_spaces(G: torch.nn.Module, z_dim: int) -> dict[str, Callable[[int, torch.Generator], torch.Tensor]]:
    """Samplers of the latent spaces a generator offers: always "z" ~ N(0, I); "w" = G.mapping(z) when present."""
    spaces: dict[str, Callable[[int, torch.Generator], torch.Tensor]] = {
        "z": lambda n, g: torch.randn(n, z_dim, generator=g)}
    mapping = getattr(G, "mapping", None)
    if callable(mapping):
        spaces["w"] = lambda n, g: mapping(torch.randn(n, z_dim, generator=g)).detach()
    return spaces


def path_norms(sample: Callable[[int, torch.Generator], torch.Tensor], pairs: int, steps: int,
               seed: int) -> dict[str, np.ndarray]:
    """Norms along lerp and slerp paths between ``pairs`` random pairs: {"lerp": (pairs, steps), "slerp": ...}."""
    g = torch.Generator().manual_seed(seed)
    ends = sample(2 * pairs, g).double()  # (2 * pairs, D)
    out = {}
    for method in ("lerp", "slerp"):
        out[method] = torch.stack([interpolate(ends[2 * i], ends[2 * i + 1], steps, method).norm(dim=1)
                                   for i in range(pairs)]).numpy()  # (pairs, steps)
    return out


def _model(ctx: Context) -> tuple[Any, str]:
    """An image model to draw paths with: the given run, or a small DCGAN trained on digits."""
    from ganforge.sample import load_run, make_sampler

    if ctx.run_dir is not None:
        from ganforge.errors import GanforgeError

        run = load_run(ctx.run_dir)
        if not run.can("images"):
            raise GanforgeError(f"--run {ctx.run_dir} is a 2-D run; the latent topic walks an image run's generator")
        return run, f"run {ctx.run_dir}"
    t = trained_digits(ctx, "resize")
    model = make_sampler(t.cfg, t.recipe.models, t.recipe.extra_state)
    return model, f"a small DCGAN (resize-conv) trained {t.history[-1]['step']} steps on scikit-learn's digits"


def latent(ctx: Context) -> TopicResult:
    """lerp vs slerp: the norm of interpolants against the typical-set norm, and the images along both paths."""
    model, source = _model(ctx)
    z_dim = int(model.G.z_dim)
    steps, pairs = 11, (20 if ctx.fast else 200)
    spaces = latent_spaces(model.G, z_dim)
    norms = path_norms(spaces["z"], pairs, steps, ctx.seed)
    typical = float(np.sqrt(z_dim))
    lo, hi = chi.ppf([0.005, 0.995], z_dim)  # 99 % of N(0, I) samples have a norm in [lo, hi]
    mid = steps // 2
    numbers: dict[str, Any] = {
        "z_dim": z_dim, "pairs": pairs, "steps": steps, "source": source,
        "typical_norm_sqrt_d": typical, "chi_99pct_band": [float(lo), float(hi)],
        "lerp_mean_norm_along_path": norms["lerp"].mean(0), "slerp_mean_norm_along_path": norms["slerp"].mean(0),
        "lerp_mid_norm_ratio": float(norms["lerp"][:, mid].mean() / typical),
        "slerp_mid_norm_ratio": float(norms["slerp"][:, mid].mean() / typical),
        "lerp_share_of_midpoints_outside_band": float(np.mean((norms["lerp"][:, mid] < lo)
                                                          | (norms["lerp"][:, mid] > hi))),
        "slerp_share_of_midpoints_outside_band": float(np.mean((norms["slerp"][:, mid] < lo)
                                                           | (norms["slerp"][:, mid] > hi))),
        "latent_spaces": list(spaces),
    }
    # the pictures, and how sure the digit classifier is about the images along each path
    rows = 4
    paths = {m: model.interpolate(rows=rows, steps=steps, method=m, seed=ctx.seed) for m in ("lerp", "slerp")}
    style = "w" in spaces and hasattr(model, "path_length")  # a StyleGAN run: walk w too, and compare smoothness
    if style:
        paths["w"] = model.interpolate(rows=rows, steps=steps, method="lerp", seed=ctx.seed, space="w")
        for space in ("z", "w"):
            ppl = model.path_length(space, n=200 if ctx.fast else 1000, seed=ctx.seed, features="mnist")
            numbers[f"path_length_{space}"] = ppl["ppl"]
            numbers[f"path_length_{space}_median"] = ppl["median"]
    else:
        numbers["w_space"] = ("not shown: pass --run with a StyleGAN run (ganforge train stylegan-mnist) to walk "
                              "w beside z")
    conf = {}
    try:
        clf = model.extractor("mnist")
        for m, x in paths.items():
            with torch.no_grad():
                p = torch.softmax(clf.logits(x.flatten(0, 1)), 1).amax(1).reshape(rows, steps)  # (rows, steps)
            conf[m] = p.mean(0).numpy()
            numbers[f"{m}_classifier_confidence_along_path"] = conf[m]
            numbers[f"{m}_classifier_confidence_mid"] = float(conf[m][mid])
    except Exception as e:  # a run on other images: the digit classifier does not apply
        numbers["classifier_confidence"] = f"skipped: {str(e).splitlines()[0][:120]}"

    panels = 1 + len(paths)
    fig = new_figure(4 * panels, 4.2)
    ax = fig.add_subplot(1, panels, 1)
    t = np.linspace(0, 1, steps)
    for m, c in (("lerp", "C0"), ("slerp", "C1")):
        ax.plot(t, norms[m].mean(0), c, label=f"{m} (mean of {pairs} pairs)")
        ax.fill_between(t, *np.percentile(norms[m], [5, 95], axis=0), color=c, alpha=0.2)
    ax.axhspan(lo, hi, color="grey", alpha=0.15, label="99 % of N(0, I) norms")
    ax.axhline(typical, color="grey", ls=":", label="sqrt(d)")
    ax.set_xlabel("t along the path")
    ax.set_ylabel("||z||")
    ax.set_title(f"norm of interpolants, d = {z_dim}")
    ax.legend(fontsize=7)
    for j, m in enumerate(paths):
        ax = fig.add_subplot(1, panels, 2 + j)
        strip = make_grid((paths[m].flatten(0, 1) + 1) / 2, nrow=steps, padding=1, pad_value=1.0)  # (3, h, w)
        ax.imshow(strip.permute(1, 2, 0).numpy(), vmin=0, vmax=1)
        ax.set_axis_off()
        title = "w (lerp)" if m == "w" else f"z, {m}"
        if m in conf:
            title += f": classifier confidence at t=0.5 {conf[m][mid]:.2f}"
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    summary = (f"midpoint norm / sqrt(d): lerp {numbers['lerp_mid_norm_ratio']:.3f}, slerp "
               f"{numbers['slerp_mid_norm_ratio']:.3f}; midpoints outside the 99 % band: lerp "
               f"{numbers['lerp_share_of_midpoints_outside_band']:.0%}, slerp "
               f"{numbers['slerp_share_of_midpoints_outside_band']:.0%}")
    if conf:
        summary += f"; classifier confidence at t=0.5: lerp {conf['lerp'][mid]:.2f}, slerp {conf['slerp'][mid]:.2f}"
    if style:
        summary += (f"; path length (classifier features, smaller = smoother): z {numbers['path_length_z']:.3g}, "
                    f"w {numbers['path_length_w']:.3g}")
        notes = ["The w walk uses lerp: w is not Gaussian, so the sphere argument for slerp does not apply there."]
    else:
        notes = ["StyleGAN's z vs w: run `ganforge train stylegan-mnist --out runs/style`, then "
                 "`ganforge explain latent --run runs/style` to add a walk in w and the path lengths of both."]
    return TopicResult(numbers, fig, summary, notes)

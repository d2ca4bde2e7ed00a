"""The lecture companion: each idea from the GAN lectures, computed and drawn, with the numbers behind it.

    ganforge explain                                   # the topics, one line each
    ganforge explain divergences --out explain/        # explain/divergences.png + .json + index.html
    ganforge explain all --out explain/                # every topic and explain/index.html (one offline page)

    from ganforge.explain import TOPICS, run_topic
    result = run_topic("non-saturating", "explain/", fast=True)   # a TopicResult: numbers, figure, summary

A topic is a function ``fn(Context) -> TopicResult`` in one of ``theory.py``, ``dynamics.py``,
``convolution.py``, ``latent_space.py``; :data:`TOPICS` (a plain dict) names it, gives it a title, the
paragraph the page shows and the command that reproduces or extends it. To add a topic, write the function and
add one entry here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ganforge.errors import GanforgeError
from ganforge.explain.common import Context, TopicResult, plain


@dataclass(frozen=True)
class Topic:
    title: str  # one line, shown by `ganforge explain`
    fn: Callable[[Context], TopicResult]
    text: str  # a paragraph for the page: what the figure shows and why it matters
    extend: str  # a command (or two) that takes the idea further with the rest of ganforge


def _topics() -> dict[str, Topic]:
    from ganforge.explain import convolution, dynamics, latent_space, theory

    return {
        "optimal-d": Topic(
            "the optimal discriminator D* = p / (p + q) next to a trained one",
            theory.optimal_discriminator,
            "For a fixed generator the discriminator's best answer is D*(x) = p(x) / (p(x) + q(x)): the share of "
            "real data among everything that lands at x. Here p is a two-bump data density and q a broad "
            "Gaussian 'generator'; a small network (the project's toy discriminator on 1-D inputs) is trained on "
            "samples only, with the discriminator loss from ganforge.losses, and its output is compared with the "
            "formula. Where both densities have mass the two curves agree; far out in the tails, where no "
            "sample ever lands, the network is free to say anything. Plugging D* back into the value function "
            "gives -log 4 + 2 JSD(p, q): the generator then minimises a Jensen-Shannon divergence.",
            "ganforge train ring8 --out runs/ring8 --set loss=ns && ganforge sample runs/ring8 --out d.png"),
        "non-saturating": Topic(
            "why the generator maximises log D(G(z)) instead of minimising log(1 - D(G(z)))",
            theory.non_saturating,
            "Both generator losses push D(G(z)) up, but their gradients differ where it matters: early on, fakes "
            "are easy to spot and D(G(z)) is near 0. Through the logit, the saturating loss log(1 - D) has "
            "gradient D(G(z)), which vanishes there; the non-saturating -log D has 1 - D(G(z)), close to 1. The "
            "left panel is autograd through ganforge.losses. The other two are two real training runs on ring8, "
            "identical except for the generator's loss (10 discriminator steps per generator step at a learning "
            "rate 30 times the generator's, so that D gets ahead as it does on real data), stepped with the "
            "training loop's own train_iteration; the curve is the gradient norm the loop logs as Grad/G. D "
            "rejects the fakes in both runs; only the minimax generator's gradient dies with D(G(z)).",
            "ganforge train ring8 --out runs/minimax --set loss=minimax --set model.mbstd=0 --set train.d_steps=10 "
            "--set optim.lr_d=3e-3 --set optim.lr_g=1e-4 --set train.diverge_patience=0   # then the same with "
            "loss=ns: docs/getting-started.md compares their Grad/G"),
        "divergences": Topic(
            "KL, JSD and Wasserstein on disjoint supports (two bars moved apart)",
            theory.divergences,
            "Put all of P on the vertical bar x = 0 and all of Q on the bar x = theta (the earth-mover example). "
            "As soon as theta is not 0 the supports do not overlap: KL(P || Q) is infinite and JSD is stuck at "
            "log 2 whatever the distance, so neither tells a generator which way to move. The Wasserstein-1 "
            "distance is the cost of shovelling P onto Q, here exactly |theta|, with slope 1 everywhere. KL and "
            "JSD come from ganforge.metrics on a shared histogram without pseudo-counts, W1 from the exact "
            "optimal-transport solver (POT) on the same points: computed, not written down.",
            "ganforge train ring8 --out runs/wgan-gp --set loss=wgan-gp   # a loss built on W1"),
        "two-sample": Topic(
            "comparing distributions via samples: power of two-sample tests as n grows",
            theory.two_sample,
            "We rarely have densities, only samples. A two-sample test asks whether two samples could come from "
            "the same distribution. Here Q is P shifted by half a standard deviation; for each sample size the "
            "test is repeated on fresh draws and the share of rejections at alpha = 0.05 is its power. Both the "
            "kernel MMD permutation test (ganforge.metrics.mmd_test) and a classifier two-sample test (linear "
            "discriminant, accuracy on held-out points against chance) find the shift more often as n grows, "
            "and reject about alpha of the time when P = Q. A GAN's discriminator is a learned classifier "
            "two-sample test.",
            "ganforge eval runs/ring8   # reports mmd2 and its permutation p-value beside the real floor"),
        "mode-collapse": Topic(
            "mode collapse, and minibatch standard deviation as a remedy",
            dynamics.mode_collapse,
            "A generator that finds outputs the discriminator accepts can keep producing just those, leaving "
            "other modes of the data uncovered. The runs on eight Gaussians (non-saturating loss, Adam with a "
            "high learning rate) differ only in the discriminator: with minibatch standard deviation "
            "(model.mbstd) D sees how spread out a group of samples is and can reject a generator that puts "
            "them all in one place. The curve counts modes with at least one sample within 3 standard "
            "deviations (PacGAN's protocol, ganforge.metrics.mode_stats). Collapse is a matter of chance as "
            "much as of settings: with these small networks it happens on some seeds and not on others, so "
            "the numbers give every seed's count rather than one chosen run, and the scatter plots show the "
            "seed where the run without a remedy did worst.",
            "ganforge train grid25 --out runs/grid-pac --set model.pack=2 --set model.mbstd=0   # PacGAN instead"),
        "nash": Topic(
            "the bilinear game min_x max_y x*y: simultaneous vs alternating steps",
            dynamics.bilinear_game,
            "A GAN is a two-player game and its solution a Nash equilibrium, not a minimum. The smallest example "
            "is V(x, y) = x*y with the equilibrium at (0, 0). Gradient steps taken simultaneously rotate and "
            "grow the radius by sqrt(1 + lr^2) each step: they spiral away. Alternating steps (y answers the "
            "new x, as the training loop alternates D and G) stay on a bounded orbit, and averaging those "
            "iterates converges to the equilibrium. Both players use torch's SGD on V through autograd.",
            "ganforge train ring8 --out runs/k5 --set train.d_steps=5   # more D steps per G step"),
        "upsampling": Topic(
            "transposed convolution and upsampling arithmetic; checkerboards measured",
            convolution.transposed_conv,
            "A transposed convolution places a copy of the kernel, scaled by each input value, at stride times "
            "its position and adds the overlaps. The grids are the lecture's own examples computed with "
            "torch.nn.functional.conv_transpose2d and checked against that definition. Kernel 4, stride 2, "
            "padding 1 doubles the size at every layer (2 -> 4 -> 8 -> 16); the same output comes from "
            "inserting zeros between inputs and convolving with the flipped kernel, and from multiplying by the "
            "transpose of the convolution's matrix. Nearest-neighbour upsampling copies each value into a 2x2 "
            "block. Uneven overlaps leave a period-2 pattern (a checkerboard); the number is the share of an "
            "image's spectral energy at frequency 1/2 per pixel, for the project's DCGAN generator with "
            "transposed convolutions vs nearest resize + convolution, at initialisation and after a short "
            "training on digits.",
            "ganforge train mnist --out runs/resize --set model.upsample=resize"),
        "architecture": Topic(
            "batch norm, LeakyReLU in D and no max pooling: DCGAN's guidelines as ablations",
            convolution.architecture,
            "DCGAN's recipe uses batch norm in both networks, LeakyReLU in the discriminator and strided "
            "convolutions instead of pooling. Each ablation trains the same small DCGAN on scikit-learn's digits "
            "(with resize-convolution upsampling, which trains steadily on these blurry upscaled 8x8 images; "
            "see the upsampling topic) with one guideline broken, by swapping layers in the built networks, "
            "and measures FID in the shipped MNIST classifier's features, beside the gradient norm reaching the "
            "generator. The runs are short (300 steps) and single-seed: large differences are the effect, "
            "small ones may be noise; train longer with the command below to test one properly.",
            "ganforge train mnist --out runs/dcgan --set data.name=digits8 --set model.upsample=resize"),
        "wgan-critic": Topic(
            "the WGAN critic's estimate as a quality meter",
            dynamics.wgan_critic,
            "A WGAN critic estimates the Wasserstein distance: E[D(real)] - E[D(fake)] with D (nearly) "
            "1-Lipschitz. The WGAN paper's claim is that this number tracks sample quality, unlike a standard "
            "discriminator's loss. Here WGAN-GP trains on eight Gaussians with the critic kept close to its "
            "optimum (20 critic steps per generator step), the condition under which its number estimates W1; "
            "at each checkpoint the critic's "
            "estimate on fixed real and generated samples is set beside the exact W1 between them (POT, "
            "in the coordinates the critic sees), the quality measure on a 2-D toy; the page gives their "
            "correlation. On images the same comparison would use FID in the digit classifier's features.",
            "ganforge train ring8 --out runs/wgan --set loss=wgan   # weight clipping instead of the penalty"),
        "latent": Topic(
            "latent space: lerp vs slerp, and StyleGAN's z vs w",
            latent_space.latent,
            "Gaussian noise in d dimensions lives near a sphere of radius sqrt(d): almost no sample is near the "
            "origin. A straight line (lerp) between two such points cuts inside the sphere, down to about "
            "sqrt(d / 2) at its midpoint, where the generator saw no training input; spherical interpolation "
            "(slerp) stays on the shell. The left panel measures the norms along many random paths against the "
            "99 % band of the chi distribution; the strips walk the same pairs through a trained generator, with "
            "the digit classifier's confidence at the midpoint.",
            "ganforge interpolate runs/mnist --steps 10 --method slerp --out walk.gif"),
    }


TOPICS: dict[str, Topic] = _topics()


def command_for(name: str, fast: bool = False, run_dir: str | Path | None = None) -> str:
    """The CLI command that reproduces one topic."""
    cmd = f"ganforge explain {name} --out explain/"
    if fast:
        cmd += " --fast"
    if run_dir is not None and name == "latent":
        cmd += f" --run {run_dir}"
    return cmd


def run_topic(name: str, out: str | Path | None = None, *, fast: bool = False, seed: int = 0,
              run_dir: str | Path | None = None, page: bool = True) -> TopicResult:
    """Compute one topic; with ``out``, write ``out/NAME.png`` and ``out/NAME.json`` (numbers + summary) and,
    with ``page``, ``out/index.html`` for every topic computed in ``out`` (this one included)."""
    if name not in TOPICS:
        from ganforge.config import nearest

        raise GanforgeError(f"unknown topic {name!r}{nearest(name, list(TOPICS))} "
                            f"(topics: {', '.join(TOPICS)}, or 'all')")
    if run_dir is not None and not Path(run_dir).expanduser().is_dir():
        raise GanforgeError(f"--run {run_dir}: no such run folder")
    ctx = Context(fast=fast, seed=seed, run_dir=Path(run_dir).expanduser() if run_dir is not None else None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: extra threads cost more than they give, above all on a busy machine
    try:
        t0 = time.perf_counter()
        result = TOPICS[name].fn(ctx)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    result.seconds = seconds
    result.numbers = plain(result.numbers)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        result.figure.savefig(out / f"{name}.png", format="png")
        record = {"topic": name, "title": TOPICS[name].title, "summary": result.summary, "fast": fast,
                  "seed": seed, "seconds": seconds, "command": command_for(name, fast, run_dir),
                  "numbers": result.numbers, "notes": result.notes, "labels": result.labels,
                  "tables": [plain(asdict(t)) for t in result.tables]}
        (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        if page:
            from ganforge.explain.page import write_page

            write_page(out)
    return result


def run_all(out: str | Path, *, fast: bool = False, seed: int = 0, run_dir: str | Path | None = None,
            progress: bool = True, only: list[str] | None = None) -> Path:
    """Every topic (or ``only`` these), their files, and ``out/index.html`` (every topic computed in ``out``);
    returns the page's path."""
    from tqdm.auto import tqdm

    from ganforge.explain.page import write_page

    out = Path(out)
    names = only or list(TOPICS)
    bar = tqdm(names, desc="explain", unit="topic", disable=not progress, dynamic_ncols=True)
    for name in bar:
        bar.set_postfix_str(name)
        run_topic(name, out, fast=fast, seed=seed, run_dir=run_dir, page=False)
    bar.close()
    return write_page(out)

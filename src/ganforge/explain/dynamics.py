"""Lecture topics about training: mode collapse, the bilinear min-max game, and the WGAN critic as a meter.

    from ganforge.explain.common import Context
    from ganforge.explain.dynamics import bilinear_game
    r = bilinear_game(Context())
    r.numbers["radius_simultaneous"][-1], r.figure.savefig("nash.png")

The GAN runs step the project's recipe through ``ganforge.loop.train_iteration`` on 2-D toys and measure
with ``ganforge.metrics`` (modes captured, exact W1).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

from ganforge.explain.common import Context, TopicResult, new_figure, step, toy_recipe
from ganforge.metrics import mode_stats, wasserstein1
from ganforge.sample import eval_mode, make_sampler

# --------------------------------------------------------------------------- 5. mode collapse

#: ring8 with modes of std 0.05, the non-saturating loss, Adam (lr 1e-3, beta1 0.5), no remedy: D wins
#: quickly and G chases one mode at a time. The remedy adds minibatch standard deviation (group 4) to D.
COLLAPSE = ["loss=ns", "data.std=0.05", "optim.lr_g=1e-3", "optim.lr_d=1e-3", "optim.beta1=0.5",
            "optim.decay=none", "model.mbstd=0"]
REMEDY = COLLAPSE[:-1] + ["model.mbstd=4"]


def mode_collapse(ctx: Context) -> TopicResult:
    """Runs without a remedy and with minibatch-std, over several seeds, with the modes-captured curve of each."""
    from dataclasses import replace

    steps, every, n, seeds = (100, 25, 500, 1) if ctx.fast else (2000, 100, 1000, 3)
    curves: dict[str, list[list[tuple[int, int, float]]]] = {}
    final: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for name, over in (("no remedy", COLLAPSE), ("minibatch std", REMEDY)):
        curves[name] = []
        for k in range(seeds):
            recipe, cfg = toy_recipe(replace(ctx, seed=ctx.seed + k), over)
            model = make_sampler(cfg, recipe.models, recipe.extra_state)
            centers, std = model.distribution.centers.numpy(), model.distribution.std
            curve = []
            for i in range(steps):
                step(recipe, i)
                if (i + 1) % every == 0:
                    s = mode_stats(model.sample(n, seed=ctx.seed + i), centers, std)
                    curve.append((i + 1, s["modes"], s["hq"]))
            curves[name].append(curve)
            final[(name, k)] = (model.sample(n, seed=ctx.seed), model.real(n, seed=ctx.seed + 1))
    numbers: dict = {"steps": steps, "samples": n, "modes_total": 8, "data": "ring8, std 0.05",
                     "seeds": [ctx.seed + k for k in range(seeds)],
                     "metric": "modes with >= 1 sample within 3 std (PacGAN protocol)",
                     "eval_steps": [c[0] for c in curves["no remedy"][0]]}
    for name, runs in curves.items():
        key = name.replace(" ", "_")
        numbers[f"final_modes_{key}"] = [run[-1][1] for run in runs]  # one per seed
        numbers[f"final_hq_{key}"] = [run[-1][2] for run in runs]
        numbers[f"median_final_modes_{key}"] = float(np.median(numbers[f"final_modes_{key}"]))
        numbers[f"modes_{key}_seed{ctx.seed}"] = [c[1] for c in runs[0]]
    worst = int(np.argmin(numbers["final_modes_no_remedy"]))  # the scatter shows the seed that fared worst
    numbers["seed_shown"] = ctx.seed + worst
    fig = new_figure(11, 3.5)
    ax = fig.add_subplot(1, 3, 1)
    for j, (name, runs) in enumerate(curves.items()):
        for k, run in enumerate(runs):
            ax.plot([c[0] for c in run], [c[1] + 0.08 * k for c in run], "o-", ms=2, lw=1, color=f"C{j}",
                    label=name if k == 0 else None)
    ax.set_ylim(-0.3, 8.5)
    ax.set_xlabel("step")
    ax.set_ylabel("modes captured (of 8)")
    ax.set_title(f"modes captured, {seeds} seed(s) each")
    ax.legend(fontsize=8)
    for j, name in enumerate(curves):
        fake, real = final[(name, worst)]
        ax = fig.add_subplot(1, 3, 2 + j)
        ax.scatter(real[:, 0], real[:, 1], s=3, alpha=0.4, label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=3, alpha=0.4, label="generated")
        ax.set_aspect("equal")
        ax.set_title(f"{name}, seed {ctx.seed + worst}: {curves[name][worst][-1][1]} modes", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    summary = (f"modes captured at step {steps} per seed: no remedy {numbers['final_modes_no_remedy']}, "
               f"minibatch std {numbers['final_modes_minibatch_std']} (of 8)")
    return TopicResult(numbers, fig, summary)


# --------------------------------------------------------------------------- 6. the bilinear game

def _play(mode: str, steps: int, lr: float, start: tuple[float, float]) -> np.ndarray:
    """min_x max_y V(x, y) = x * y by gradient steps with torch's SGD: 'simultaneous' (both from the same
    point) or 'alternating' (y answers the new x). Returns the path (steps + 1, 2). Nash equilibrium: (0, 0)."""
    x = torch.tensor(start[0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(start[1], dtype=torch.float64, requires_grad=True)
    opt_x, opt_y = torch.optim.SGD([x], lr=lr), torch.optim.SGD([y], lr=lr)
    path = [(x.item(), y.item())]
    for _ in range(steps):
        if mode == "simultaneous":
            opt_x.zero_grad()
            opt_y.zero_grad()
            (x * y).backward()  # x descends V; y ascends V (its gradient is negated below)
            y.grad.neg_()
            opt_x.step()
            opt_y.step()
        else:
            opt_x.zero_grad()
            (x * y).backward()
            opt_x.step()
            opt_y.zero_grad()
            (-(x * y)).backward()  # y sees the x it just lost to
            opt_y.step()
        path.append((x.item(), y.item()))
    return np.array(path)


def bilinear_game(ctx: Context) -> TopicResult:
    """min_x max_y x*y: simultaneous steps spiral out, alternating steps orbit, averaging finds the equilibrium."""
    steps, lr, start = 400, 0.1, (1.0, 1.0)  # a fraction of a second: the same in fast mode
    sim, alt = _play("simultaneous", steps, lr, start), _play("alternating", steps, lr, start)
    avg = np.cumsum(alt, 0) / np.arange(1, len(alt) + 1)[:, None]  # running average of the alternating iterates
    r = {k: np.linalg.norm(v, axis=1) for k, v in (("simultaneous", sim), ("alternating", alt), ("averaged", avg))}
    r0 = float(r["simultaneous"][0])
    numbers = {
        "lr": lr, "steps": steps, "start": start,
        "radius_simultaneous": r["simultaneous"][::max(1, steps // 50)],
        "radius_alternating": r["alternating"][::max(1, steps // 50)],
        "radius_averaged": r["averaged"][::max(1, steps // 50)],
        "final_radius_simultaneous": float(r["simultaneous"][-1]),
        "predicted_radius_simultaneous": r0 * (1 + lr**2) ** (steps / 2),  # |1 + i lr| per step
        "max_radius_alternating": float(r["alternating"].max()),
        "min_radius_alternating": float(r["alternating"].min()),
        "final_radius_averaged": float(r["averaged"][-1]),
        "simultaneous_radius_increasing": bool(np.all(np.diff(r["simultaneous"]) > 0)),
    }
    fig = new_figure(10, 4)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(sim[:, 0], sim[:, 1], lw=0.8, label="simultaneous")
    ax.plot(alt[:, 0], alt[:, 1], lw=0.8, label="alternating")
    ax.plot(avg[:, 0], avg[:, 1], lw=1.2, label="alternating, averaged")
    ax.plot(0, 0, "k*", ms=10, label="Nash equilibrium")
    ax.plot(*start, "ko", ms=4)
    ax.set_aspect("equal")
    ax.set_xlabel("x (minimiser)")
    ax.set_ylabel("y (maximiser)")
    ax.set_title("min_x max_y  x*y")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 2, 2)
    for k, v in r.items():
        ax.plot(v, label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("distance to the equilibrium")
    ax.legend(fontsize=7)
    fig.tight_layout()
    summary = (f"after {steps} steps (lr {lr}): simultaneous radius {numbers['final_radius_simultaneous']:.2f} "
               f"(predicted {numbers['predicted_radius_simultaneous']:.2f}), alternating stays in "
               f"[{numbers['min_radius_alternating']:.2f}, {numbers['max_radius_alternating']:.2f}], averaged "
               f"{numbers['final_radius_averaged']:.3f}")
    return TopicResult(numbers, fig, summary)


# --------------------------------------------------------------------------- 9. the WGAN critic as a meter

def wgan_critic(ctx: Context) -> TopicResult:
    """WGAN-GP on a 2-D toy: the critic's estimate E[D(real)] - E[D(fake)] over training beside the exact W1."""
    steps, every, n = (40, 5, 300) if ctx.fast else (300, 15, 1000)
    # the critic's number estimates W1 only when the critic is near its optimum: 20 critic steps per generator
    # step at a 5x higher learning rate (the WGAN paper trains the critic far ahead for the same reason)
    recipe, cfg = toy_recipe(ctx, ["loss=wgan-gp", "model.mbstd=0", "data.std=0.05", "optim.decay=none",
                                   "train.d_steps=20", "optim.lr_d=1e-3", "optim.lr_g=2e-4"])
    model = make_sampler(cfg, recipe.models, recipe.extra_state)
    mean, scale = recipe.extra_state["data_mean"], recipe.extra_state["data_scale"]

    def training_coords(points: np.ndarray) -> torch.Tensor:  # data coordinates -> what the critic sees
        return (torch.from_numpy(points) - mean) / scale

    real_t = training_coords(model.real(n, seed=ctx.seed + 1))  # (n, 2), fixed
    D = recipe.models["D"]
    est, w1, at = [], [], []
    for i in range(steps):
        step(recipe, i)
        if (i + 1) % every == 0:
            fake = model.sample(n, seed=ctx.seed + 2)  # the same noise each time: only G changes
            fake_t = training_coords(fake)  # (n, 2)
            with eval_mode(D):
                est.append(float(D(real_t).mean() - D(fake_t).mean()))
            w1.append(wasserstein1(fake_t.numpy(), real_t.numpy()))  # exact, POT, in the critic's coordinates
            at.append(i + 1)
    pear, spear = pearsonr(est, w1), spearmanr(est, w1)
    numbers = {
        "steps": steps, "critic_steps_per_G_step": cfg.train.d_steps, "samples": n,
        "quality_measure": "exact W1 (POT) between generated and real points, in training coordinates",
        "eval_steps": at, "critic_estimate": est, "w1_exact": w1,
        "pearson_r": float(pear.statistic), "pearson_p": float(pear.pvalue),
        "spearman_rho": float(spear.statistic),
    }
    fig = new_figure(10, 3.8)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(at, est, "o-", ms=3, label="critic: E[D(real)] - E[D(fake)]")
    ax.plot(at, w1, "s-", ms=3, label="exact W1 (POT)")
    ax.set_xlabel("generator step")
    ax.set_title("WGAN-GP on ring8 (std 0.05), k = 20")
    ax.legend(fontsize=8)
    ax = fig.add_subplot(1, 2, 2)
    ax.scatter(w1, est, c=at, cmap="viridis", s=14)
    ax.set_xlabel("exact W1")
    ax.set_ylabel("critic estimate")
    ax.set_title(f"Pearson r = {numbers['pearson_r']:.3f}, Spearman = {numbers['spearman_rho']:.3f}")
    fig.tight_layout()
    summary = (f"critic estimate vs exact W1 over {len(at)} checkpoints: Pearson r = {numbers['pearson_r']:.3f} "
               f"(p = {numbers['pearson_p']:.1e}), Spearman rho = {numbers['spearman_rho']:.3f}; "
               f"W1 {w1[0]:.3f} -> {w1[-1]:.3f}")
    return TopicResult(numbers, fig, summary)

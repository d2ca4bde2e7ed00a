"""Lecture topics about the objective: the optimal discriminator, the non-saturating loss, divergences on
disjoint supports, and two-sample tests.

    from ganforge.explain.common import Context
    from ganforge.explain.theory import optimal_discriminator
    r = optimal_discriminator(Context(fast=True))
    r.numbers["weighted_abs_error"], r.figure.savefig("optimal-d.png")

Each function computes its numbers with the project's own code (``ganforge.losses``, ``ganforge.metrics``,
``ganforge.nets``, the training loop's ``train_iteration``) and draws one figure from them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import rel_entr
from scipy.stats import binomtest, norm

from ganforge import losses
from ganforge.explain.common import Context, Table, TopicResult, new_figure, step, toy_recipe
from ganforge.metrics import histogram_divergences, mmd_test, wasserstein1
from ganforge.metrics.divergences import PSEUDO_COUNT
from ganforge.nets.mlp import MLPDiscriminator

# --------------------------------------------------------------------------- 1. optimal discriminator

P_MODES = ((-1.5, 0.5), (1.0, 0.6))  # p: an equal mixture of N(mean, std^2), the "data"
Q_MODE = (0.0, 1.2)  # q: N(mean, std^2), a "generator" that covers both modes too broadly


def _p(x: np.ndarray) -> np.ndarray:
    return 0.5 * sum(norm.pdf(x, m, s) for m, s in P_MODES)


def _q(x: np.ndarray) -> np.ndarray:
    return norm.pdf(x, *Q_MODE)


def _sample_p(n: int, g: torch.Generator) -> torch.Tensor:
    which = torch.randint(2, (n,), generator=g)
    means = torch.tensor([m for m, _ in P_MODES])[which]
    stds = torch.tensor([s for _, s in P_MODES])[which]
    return (means + stds * torch.randn(n, generator=g))[:, None]  # (n, 1)


def optimal_discriminator(ctx: Context) -> TopicResult:
    """D*(x) = p(x) / (p(x) + q(x)) for two known 1-D densities, beside a discriminator trained on samples."""
    steps, batch = (250, 256) if ctx.fast else (1500, 512)
    g = torch.Generator().manual_seed(ctx.seed)
    torch.manual_seed(ctx.seed)
    D = MLPDiscriminator(in_dim=1, width=64, depth=2)  # the project's 2-D toy D, on 1-D points
    opt = torch.optim.Adam(D.parameters(), lr=3e-3, betas=(0.5, 0.999))
    for _ in range(steps):
        real = _sample_p(batch, g)  # (B, 1)
        fake = Q_MODE[0] + Q_MODE[1] * torch.randn(batch, 1, generator=g)  # (B, 1)
        loss = losses.d_loss("ns", D(real), D(fake))  # -E_p log D(x) - E_q log(1 - D(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = np.linspace(-4, 4, 801)
    p, q = _p(x), _q(x)
    d_star = p / (p + q)
    with torch.no_grad():
        d_hat = torch.sigmoid(D(torch.tensor(x, dtype=torch.float32)[:, None])).double().numpy()
    m = (p + q) / 2  # where the two densities put their mass
    weight = m / np.trapezoid(m, x)
    err = np.abs(d_hat - d_star)
    # V(D) = E_p[log D] + E_q[log(1 - D)]; at D*, V = -log 4 + 2 JSD(p, q). The integrals run over [-10, 10],
    # where p and q hold all but ~1e-15 of their mass (the plotted [-4, 4] misses ~1e-3 of q's)
    xv = np.linspace(-10, 10, 4001)
    pv, qv = _p(xv), _q(xv)
    mv = (pv + qv) / 2
    with torch.no_grad():
        d_hat_v = torch.sigmoid(D(torch.tensor(xv, dtype=torch.float32)[:, None])).double().numpy()

    def value(d: np.ndarray) -> float:
        d = np.clip(d, 1e-300, None), np.clip(1 - d, 1e-300, None)
        return float(np.trapezoid(pv * np.log(d[0]) + qv * np.log(d[1]), xv))

    v_star, v_hat = value(pv / (pv + qv)), value(d_hat_v)
    # JSD(p, q) integrated directly (0 log 0 = 0), to check V(D*) = -log 4 + 2 JSD against
    jsd_int = float(np.trapezoid(0.5 * rel_entr(pv, mv) + 0.5 * rel_entr(qv, mv), xv))
    numbers = {
        "steps": steps, "batch": batch,
        "weighted_abs_error": float(np.trapezoid(weight * err, x)),
        "max_abs_error_where_mass": float(err[m > 0.05].max()),
        "value_at_D_star": v_star, "value_at_trained_D": v_hat,
        "jsd_from_value": (v_star + math.log(4)) / 2,
        "jsd_integrated": jsd_int,
        "x": x[::20], "D_star": d_star[::20], "D_trained": d_hat[::20],
    }
    fig = new_figure(7, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.fill_between(x, p, alpha=0.25, color="C0", label="p (data)")
    ax.fill_between(x, q, alpha=0.25, color="C1", label="q (generator)")
    ax.plot(x, d_star, "k-", lw=2, label="D* = p / (p + q)")
    ax.plot(x, d_hat, "C3--", lw=2, label=f"trained D ({steps} steps)")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set_xlabel("x")
    ax.set_title(f"optimal vs trained discriminator: mass-weighted |error| {numbers['weighted_abs_error']:.3f}")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    summary = (f"mass-weighted |D - D*| = {numbers['weighted_abs_error']:.3f}; V(D*) = {v_star:.4f} "
               f"(= -log 4 + 2 JSD, JSD = {numbers['jsd_from_value']:.4f}), V(trained D) = {v_hat:.4f}")
    return TopicResult(numbers, fig, summary)


# --------------------------------------------------------------------------- 2. why non-saturating

def _grad_wrt_logit(kind: str, d: np.ndarray) -> np.ndarray:
    """|d loss_G / d logit| at D(G(z)) = d, by autograd through ``ganforge.losses.g_loss``."""
    logit = torch.logit(torch.tensor(d, dtype=torch.float64)).requires_grad_(True)
    (grad,) = torch.autograd.grad(losses.g_loss(kind, logit) * len(d), logit)  # sum, not mean: per-sample grads
    return grad.abs().numpy()


#: D gets the lead it has early in real training (fakes easy to spot): k = 10 D steps per G step at a learning
#: rate 30x G's, no minibatch std. docs/getting-started.md's minimax-vs-ns experiment uses the same overrides
#: (tests/docs/test_docs_experiments.py checks that they agree).
D_AHEAD = ["model.mbstd=0", "train.d_steps=10", "optim.lr_d=3e-3", "optim.lr_g=1e-4", "optim.decay=none"]


def non_saturating(ctx: Context) -> TopicResult:
    """The generator's gradient under log(1 - D(G(z))) vs -log D(G(z)): analytic, then from real early training."""
    d = np.logspace(-4, math.log10(0.9999), 200)
    sat, ns = _grad_wrt_logit("minimax", d), _grad_wrt_logit("ns", d)
    at = np.array([0.01])
    sat01, ns01 = float(_grad_wrt_logit("minimax", at)[0]), float(_grad_wrt_logit("ns", at)[0])

    steps = 30 if ctx.fast else 150
    runs = {}
    for kind in ("minimax", "ns"):
        # the same seed for both: the same networks, the same first batches; only G's loss differs.
        recipe, _ = toy_recipe(ctx, [f"loss={kind}", *D_AHEAD])
        recs = [step(recipe, i, log_grads=True) for i in range(steps)]
        runs[kind] = {"grad_G": np.array([r["Grad/G"] for r in recs]),
                      "D_fake": 1 / (1 + np.exp(-np.array([r["D/fake"] for r in recs])))}
    early = slice(0, max(5, steps // 5))
    numbers = {
        "grad_saturating_at_0.01": sat01, "grad_non_saturating_at_0.01": ns01,
        "ratio_at_0.01": ns01 / sat01,
        "training_steps": steps,
        "mean_grad_G_minimax_early": float(runs["minimax"]["grad_G"][early].mean()),
        "mean_grad_G_ns_early": float(runs["ns"]["grad_G"][early].mean()),
        "mean_D_fake_minimax_early": float(runs["minimax"]["D_fake"][early].mean()),
        "mean_D_fake_ns_early": float(runs["ns"]["D_fake"][early].mean()),
        "grad_G_minimax": runs["minimax"]["grad_G"], "grad_G_ns": runs["ns"]["grad_G"],
        "D_fake_minimax": runs["minimax"]["D_fake"], "D_fake_ns": runs["ns"]["D_fake"],
    }
    numbers["early_grad_ratio_ns_over_minimax"] = (numbers["mean_grad_G_ns_early"]
                                                   / max(numbers["mean_grad_G_minimax_early"], 1e-30))
    fig = new_figure(11, 3.6)
    ax = fig.add_subplot(1, 3, 1)
    ax.loglog(d, sat, label="log(1 - D(G(z)))  (saturating)")
    ax.loglog(d, ns, label="-log D(G(z))  (non-saturating)")
    ax.plot([0.01, 0.01], [sat01, ns01], "ko", ms=4)
    ax.set_xlabel("D(G(z))")
    ax.set_ylabel("|d loss_G / d logit|")
    ax.set_title("analytic, through ganforge.losses")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 3, 2)
    for kind, c in (("minimax", "C0"), ("ns", "C1")):
        ax.semilogy(np.arange(1, steps + 1), runs[kind]["grad_G"], c, label=f"loss={kind}")
    ax.set_xlabel("step")
    ax.set_ylabel("logged Grad/G (norm over G's weights)")
    ax.set_title(f"real training (ring8, k=10); first {early.stop} steps: ns / minimax "
                 f"{numbers['early_grad_ratio_ns_over_minimax']:.0f}x", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 3, 3)
    for kind, c in (("minimax", "C0"), ("ns", "C1")):
        ax.semilogy(np.arange(1, steps + 1), runs[kind]["D_fake"], c, label=f"loss={kind}")
    ax.set_xlabel("step")
    ax.set_ylabel("sigmoid(mean logit on fakes)")
    ax.set_title("D(G(z)) in the same runs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    summary = (f"at D(G(z)) = 0.01: saturating gradient {sat01:.4f} vs non-saturating {ns01:.4f}; "
               f"real run, first {early.stop} steps: Grad/G {numbers['mean_grad_G_minimax_early']:.3g} (minimax) "
               f"vs {numbers['mean_grad_G_ns_early']:.3g} (ns), "
               f"ratio {numbers['early_grad_ratio_ns_over_minimax']:.0f}x")
    return TopicResult(numbers, fig, summary)


# --------------------------------------------------------------------------- 3. divergences on disjoint supports

def divergences(ctx: Context) -> TopicResult:
    """Two uniform bars P = {0} x U[0, 1] and Q = {theta} x U[0, 1] moved apart: KL, JSD and W1, computed."""
    n = 200 if ctx.fast else 1000
    y = np.random.default_rng(ctx.seed).uniform(0, 1, n)  # the same heights for both bars: an exact coupling
    thetas = np.round(np.linspace(-1, 1, 21), 10)
    kl, jsd, w1, kl_pc = [], [], [], []
    for t in thetas:
        P = np.stack([np.zeros(n), y], 1)  # (n, 2)
        Q = np.stack([np.full(n, t), y], 1)  # (n, 2)
        h = histogram_divergences(P, Q, bins=20, alpha=0.0)  # raw histograms: no pseudo-counts
        kl.append(h["kl"])
        jsd.append(h["jsd"])
        w1.append(wasserstein1(P, Q))
        kl_pc.append(histogram_divergences(P, Q, bins=20, alpha=PSEUDO_COUNT)["kl"])  # as `ganforge eval` and the lab
    kl_a, jsd_a, w1_a, kl_pc_a = np.array(kl), np.array(jsd), np.array(w1), np.array(kl_pc)
    apart = thetas != 0
    slope = np.gradient(w1_a, thetas)
    at_half = int(np.argmin(np.abs(thetas - 0.5)))
    numbers = {
        "theta": thetas, "kl": kl_a, "jsd": jsd_a, "w1": w1_a, "kl_with_pseudo_count": kl_pc_a,
        "jsd_apart_max_abs_dev_from_log2": float(np.abs(jsd_a[apart] - math.log(2)).max()),
        "kl_apart_all_infinite": bool(np.all(np.isinf(kl_a[apart]))),
        "w1_max_abs_dev_from_theta": float(np.abs(w1_a - np.abs(thetas)).max()),
        "jsd_at_0": float(jsd_a[~apart][0]), "kl_at_0": float(kl_a[~apart][0]),
        "w1_slope_at_0.5": float(slope[at_half]),
        "jsd_slope_at_0.5": float(np.gradient(jsd_a, thetas)[at_half]),
        "pseudo_count": PSEUDO_COUNT,
        "kl_with_pseudo_count_at_0.5": float(kl_pc_a[at_half]),
        "kl_with_pseudo_count_apart_spread": float(np.ptp(kl_pc_a[apart])),
        "n_points_per_bar": n, "histogram_bins": 20,
    }
    labels = {
        "theta": "theta (distance between the bars)", "kl": "KL(P || Q), raw histograms",
        "jsd": "JSD(P, Q), raw histograms (nats)", "w1": "W1(P, Q), exact (POT)",
        "kl_with_pseudo_count": f"KL(P || Q) with a pseudo-count of {PSEUDO_COUNT} per bin",
        "jsd_apart_max_abs_dev_from_log2": "largest |JSD - log 2| over theta != 0",
        "kl_apart_all_infinite": "KL infinite for every theta != 0",
        "w1_max_abs_dev_from_theta": "largest |W1 - |theta|| over all theta",
        "jsd_at_0": "JSD at theta = 0", "kl_at_0": "KL at theta = 0",
        "w1_slope_at_0.5": "slope of W1 at theta = 0.5", "jsd_slope_at_0.5": "slope of JSD at theta = 0.5",
        "pseudo_count": "pseudo-count per bin in ganforge eval and the lab",
        "kl_with_pseudo_count_at_0.5": "KL with the pseudo-count at theta = 0.5",
        "kl_with_pseudo_count_apart_spread": "spread (max - min) of KL with the pseudo-count over theta != 0",
        "n_points_per_bar": "points per bar", "histogram_bins": "histogram bins per axis",
    }
    fig = new_figure(14, 3.6)
    ax = fig.add_subplot(1, 4, 1)
    ax.scatter(np.zeros(60), y[:60], s=6, label="P")
    ax.scatter(np.full(60, 0.6), y[:60], s=6, label="Q (theta = 0.6)")
    ax.annotate("", xy=(0.6, 0.5), xytext=(0, 0.5), arrowprops=dict(arrowstyle="->"))
    ax.set_xlim(-0.4, 1.0)
    ax.set_title("two bars moved apart")
    ax.legend(fontsize=7)
    # KL on its own axis: finite values on a linear scale, infinite ones on an off-scale band labelled "inf"
    ax = fig.add_subplot(1, 4, 2)
    top = 1.25 * max(float(kl_pc_a.max()), 1.0)
    inf_y = top * 1.12
    ax.plot(thetas[~np.isinf(kl_a)], kl_a[~np.isinf(kl_a)], "o", color="C3", ms=6, label="KL (raw), finite")
    ax.plot(thetas[np.isinf(kl_a)], np.full(int(np.isinf(kl_a).sum()), inf_y), "^", color="C3", ms=6,
            clip_on=False, label="KL (raw) = \u221e (off scale, own band)")
    ax.plot(thetas, kl_pc_a, "s", mfc="none", color="grey", ms=5,
            label=f"KL, pseudo-count {PSEUDO_COUNT}/bin:\nfinite only because of it")
    ax.axhspan(top, inf_y * 1.04, color="C3", alpha=0.08)
    ax.set_ylim(-0.05 * top, inf_y * 1.04)
    ticks = [t for t in ax.get_yticks() if 0 <= t < top]
    ax.set_yticks([*ticks, inf_y], [f"{t:g}" for t in ticks] + ["\u221e"])  # the infinity sign
    ax.set_xlabel("theta")
    ax.set_ylabel("KL(P || Q) (nats)")
    ax.set_title("KL: infinite once the bars part")
    ax.legend(fontsize=6.5, loc="center right")
    # JSD as points only: the jump at theta = 0 is the point, a line would draw a smooth V
    ax = fig.add_subplot(1, 4, 3)
    ax.axhline(math.log(2), color="grey", ls=":", lw=1, label="log 2 = 0.693")
    ax.plot(thetas[apart], jsd_a[apart], "o", color="C0", ms=5, label="JSD, theta != 0")
    ax.plot(thetas[~apart], jsd_a[~apart], "o", color="C1", ms=7, label="JSD at theta = 0")
    ax.annotate("a jump: 0 at theta = 0,\nlog 2 at any theta != 0", xy=(0, 0.02), xytext=(-0.9, 0.3), fontsize=7,
                arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_ylim(-0.05, 0.8)
    ax.set_xlabel("theta")
    ax.set_ylabel("JSD(P, Q) (nats)")
    ax.set_title("JSD: flat at log 2, no slope")
    ax.legend(fontsize=7, loc="lower left")
    ax = fig.add_subplot(1, 4, 4)
    ax.plot(thetas, w1_a, "o-", color="C2", ms=4, label="W1 (exact, POT)")
    ax.set_xlabel("theta")
    ax.set_ylabel("W1(P, Q)")
    ax.set_title("W1 = |theta|: slope 1 everywhere")
    ax.legend(fontsize=7)
    fig.tight_layout()
    summary = (f"theta != 0: JSD = log 2 (max deviation {numbers['jsd_apart_max_abs_dev_from_log2']:.1e}), "
               f"KL = inf, W1 = |theta| (max deviation {numbers['w1_max_abs_dev_from_theta']:.1e}); "
               f"slope at 0.5: W1 {numbers['w1_slope_at_0.5']:.3f}, JSD {numbers['jsd_slope_at_0.5']:.3f}")
    notes = [f"KL is finite only with a pseudo-count: ganforge eval and the lab add {PSEUDO_COUNT} to every "
             f"histogram bin, which makes KL here {numbers['kl_with_pseudo_count_at_0.5']:.2f} at theta = 0.5 "
             f"(grey squares), the same for every theta != 0 and set by the pseudo-count, not by the distance."]
    table = Table("theta by theta", ["theta", "KL (raw)", f"KL (pseudo-count {PSEUDO_COUNT})", "JSD", "W1"],
                  [[float(t), "inf" if math.isinf(k) else float(k), float(kp), float(j), float(w)]
                   for t, k, kp, j, w in zip(thetas, kl_a, kl_pc_a, jsd_a, w1_a, strict=True)],
                  shows=["theta", "kl", "kl_with_pseudo_count", "jsd", "w1"])
    return TopicResult(numbers, fig, summary, notes, labels=labels, tables=[table])


# --------------------------------------------------------------------------- 4. two-sample tests

def _c2st_p_value(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    """Classifier two-sample test (Lopez-Paz & Oquab, 2017): a linear classifier (LDA, closed form) fitted on
    half, accuracy on the other half, one-sided binomial p-value against chance (0.5)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    data = np.concatenate([x, y])
    label = np.r_[np.zeros(len(x)), np.ones(len(y))]
    idx = rng.permutation(len(data))
    half = len(idx) // 2
    tr, te = idx[:half], idx[half:]
    clf = LinearDiscriminantAnalysis().fit(data[tr], label[tr])
    correct = int((clf.predict(data[te]) == label[te]).sum())
    return float(binomtest(correct, len(te), 0.5, alternative="greater").pvalue)


def two_sample(ctx: Context) -> TopicResult:
    """Power of the MMD permutation test and a classifier two-sample test against a mean shift, as n grows."""
    shift, alpha = 0.5, 0.05
    sizes = [10, 25, 50, 100] if ctx.fast else [10, 20, 40, 80, 160]
    reps, perms = (20, 50) if ctx.fast else (60, 100)
    rng = np.random.default_rng(ctx.seed)
    power = {"mmd": [], "c2st": []}
    null_rate = {"mmd": 0, "c2st": 0}
    for n in sizes:
        hits = {"mmd": 0, "c2st": 0}
        for _ in range(reps):
            x = rng.normal(size=(n, 2))  # P = N(0, I)
            y = rng.normal(size=(n, 2)) + np.array([shift, 0.0])  # Q = N((shift, 0), I)
            hits["mmd"] += mmd_test(x, y, permutations=perms, seed=int(rng.integers(1 << 30)))["p_value"] <= alpha
            hits["c2st"] += _c2st_p_value(x, y, rng) <= alpha
        for k in hits:
            power[k].append(hits[k] / reps)
    n_null = sizes[-1]
    for _ in range(reps):  # the same tests when P = Q: how often they cry wolf
        x, y = rng.normal(size=(n_null, 2)), rng.normal(size=(n_null, 2))
        null_rate["mmd"] += mmd_test(x, y, permutations=perms, seed=int(rng.integers(1 << 30)))["p_value"] <= alpha
        null_rate["c2st"] += _c2st_p_value(x, y, rng) <= alpha
    numbers = {
        "shift": shift, "alpha": alpha, "sizes": sizes, "repeats": reps, "permutations": perms,
        "power_mmd": power["mmd"], "power_c2st": power["c2st"],
        "false_positive_rate_mmd": null_rate["mmd"] / reps, "false_positive_rate_c2st": null_rate["c2st"] / reps,
        "n_for_false_positive_rate": n_null,
    }
    fig = new_figure(7, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(sizes, power["mmd"], "o-", label="MMD permutation test")
    ax.plot(sizes, power["c2st"], "s-", label="classifier two-sample test")
    ax.axhline(alpha, color="grey", ls=":", label=f"alpha = {alpha}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("samples per side n")
    ax.set_ylabel("power (share of repeats with p <= alpha)")
    ax.set_title(f"detecting a mean shift of {shift} std in 2-D")
    ax.legend(fontsize=8)
    fig.tight_layout()
    summary = (f"power at n = {sizes[0]} / {sizes[-1]}: MMD {power['mmd'][0]:.2f} / {power['mmd'][-1]:.2f}, "
               f"C2ST {power['c2st'][0]:.2f} / {power['c2st'][-1]:.2f}; false positives with P = Q: "
               f"MMD {numbers['false_positive_rate_mmd']:.2f}, C2ST {numbers['false_positive_rate_c2st']:.2f}")
    return TopicResult(numbers, fig, summary)

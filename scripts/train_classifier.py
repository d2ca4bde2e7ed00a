"""Train the feature / judge classifier shipped with ganforge and save its weights into the package.

    python scripts/train_classifier.py                  # mnist: 4,500 train digits, 8 epochs, ~2-4 min on 2 cores
    python scripts/train_classifier.py --arch resnet    # the second digit ruler: mnist_classifier2.pt (below)
    python scripts/train_classifier.py --data fashion   # Fashion-MNIST, a 40,000-image subset, 2 epochs, ~5 min
    python scripts/train_classifier.py --data fashion --train-n 0 --epochs 4   # all 60,000 images

Trains a classifier of ``ganforge.nets.classifier`` on the ``train`` split (seeded; random shifts of up to
+-2 px; Adam with a one-cycle learning-rate schedule), prints the accuracy on the held-out ``test`` split and
writes ``src/ganforge/weights/{name}.pt``: a plain dict ``{"state_dict", "net", "arch", "data",
"test_accuracy", "train_n", ...}`` that ``torch.load(path, weights_only=True)`` reads.
``ganforge.metrics.features`` loads it as a feature network of FID, KID, precision-recall and the
classifier scores:

* ``--arch cnn`` (default; ``DigitClassifier``, seed 0, all 4,500 training digits) -> ``mnist_classifier.pt``,
  the "mnist" network; with ``--data fashion`` -> ``fashion_classifier.pt``.
* ``--arch resnet`` (``DigitResNet``, seed 1, a seeded random 3,000 of the 4,500 training digits, 10 epochs)
  -> ``mnist_classifier2.pt``, the "mnist2" network: the second, independently trained ruler that every
  digit evaluation also reports (``fid2``, ``kid2``). The test split is never trained on: it is the
  held-out side of the evaluation's floor.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.nets.classifier import NETS

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "src" / "ganforge" / "weights"
#: (data, arch) -> the settings the shipped weights were trained with (each overridable by its option)
DEFAULTS = {
    ("mnist", "cnn"): {"epochs": 8, "train_n": 0, "seed": 0, "width": 32, "name": "mnist_classifier"},
    ("fashion", "cnn"): {"epochs": 2, "train_n": 40_000, "seed": 0, "width": 32, "name": "fashion_classifier"},
    ("mnist", "resnet"): {"epochs": 10, "train_n": 3000, "seed": 1, "width": 24, "name": "mnist_classifier2"},
}
DATASETS = sorted({d for d, _ in DEFAULTS})


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of (B, C, H, W) by its own random (dy, dx) in [-max_shift, max_shift], filling with -1."""
    if max_shift == 0:
        return x
    B, C, H, W = x.shape
    xp = F.pad(x, (max_shift,) * 4, value=-1.0)  # (B, C, H + 2s, W + 2s), -1 = background
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, B), generator=generator)
    rows = dy[:, None] + torch.arange(H)  # (B, H)
    cols = dx[:, None] + torch.arange(W)  # (B, W)
    b = torch.arange(B)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on float images (N, 1, 28, 28) in [-1, 1] and labels (N,)."""
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / len(x)


def train(data: str = "mnist", *, arch: str = "cnn", epochs: int | None = None, train_n: int | None = None,
          batch_size: int = 128, lr: float = 2e-3, shift: int = 2, seed: int | None = None, width: int | None = None,
          feature_dim: int = 128, root: str | None = None, out: Path | None = None, name: str | None = None,
          threads: int = 2) -> dict:
    """Train, evaluate on the test split, save; returns the saved dict (without the state_dict).
    None = the (data, arch) default of ``DEFAULTS``."""
    from ganforge.data.images import fingerprint, load_images  # late: the data module is optional at import

    if arch not in NETS:
        raise SystemExit(f"--arch must be one of {sorted(NETS)}, got {arch!r}")
    if data not in DATASETS:
        raise SystemExit(f"--data must be one of {DATASETS}, got {data!r}")
    d = DEFAULTS.get((data, arch), {**DEFAULTS[(data, "cnn")], "name": f"{data}_{arch}_classifier"})
    epochs = d["epochs"] if epochs is None else epochs
    train_n = d["train_n"] if train_n is None else train_n
    seed = d["seed"] if seed is None else seed
    width = d["width"] if width is None else width
    name = d["name"] if name is None else name
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    train_set = load_images(data, split="train", root=root)
    test_set = load_images(data, split="test", root=root)
    if train_set.y is None or test_set.y is None:
        raise SystemExit(f"dataset {data!r} has no labels: cannot train a classifier")
    g = torch.Generator().manual_seed(seed)
    x, y = train_set.to_float(), train_set.y  # (N, 1, 28, 28) in [-1, 1], (N,)
    if 0 < train_n < len(x):
        keep = torch.randperm(len(x), generator=g)[:train_n]
        x, y = x[keep], y[keep]
    x_test, y_test = test_set.to_float(), test_set.y
    arch_args = {"num_classes": int(train_set.num_classes), "width": width, "in_channels": int(x.shape[1])}
    if arch == "cnn":
        arch_args["feature_dim"] = feature_dim
    model = NETS[arch](**arch_args)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    print(f"{data} / {arch}: {len(x)} train / {len(x_test)} test images, {epochs} epochs, seed {seed}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        total, n_seen = 0.0, 0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            xb = random_shift(x[idx], shift, g)  # (B, 1, 28, 28)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, n_seen = total + loss.item() * len(idx), n_seen + len(idx)
        print(f"  epoch {epoch + 1}/{epochs}: loss {total / n_seen:.4f}, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    test_acc = accuracy(model, x_test, y_test)
    print(f"{data}: held-out test accuracy {test_acc:.4f} ({len(x_test)} images)", flush=True)
    meta = {"net": arch, "arch": arch_args, "data": data, "test_accuracy": float(test_acc), "train_n": int(len(x)),
            "train_subset": (f"torch.randperm({len(train_set)}, seed {seed})[:{train_n}] of the train split"
                             if 0 < train_n < len(train_set) else "all of the train split"),
            "test_n": int(len(x_test)), "epochs": int(epochs), "seed": int(seed), "shift": int(shift),
            "train_seconds": round(time.perf_counter() - t0, 1),
            "data_fingerprint": str(fingerprint(train_set)), "torch": str(torch.__version__)}
    out = Path(out) if out is not None else WEIGHTS_DIR / f"{name}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tmp = out.with_suffix(".tmp")
    torch.save({"state_dict": state, **meta}, tmp)
    tmp.replace(out)  # atomic: a reader never sees half a file
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)", flush=True)
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="mnist", choices=DATASETS)
    p.add_argument("--arch", default="cnn", choices=sorted(NETS),
                   help="cnn: DigitClassifier (the first ruler); resnet: DigitResNet (the second digit ruler)")
    p.add_argument("--epochs", type=int, default=None, help="default: 8 for mnist, 2 for fashion, 10 for resnet")
    p.add_argument("--train-n", type=int, default=None,
                   help="train on a seeded random subset of this size (0 = all); default: all for mnist, 40000 for "
                   "fashion, 3000 for resnet")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (one-cycle schedule)")
    p.add_argument("--shift", type=int, default=2, help="random shift augmentation, pixels (0 = off)")
    p.add_argument("--seed", type=int, default=None, help="default: 0 for cnn, 1 for resnet (also picks the subset)")
    p.add_argument("--width", type=int, default=None, help="channels of the first layers; default: 32 cnn, 24 resnet")
    p.add_argument("--root", default=None, help="dataset folder passed to load_images")
    p.add_argument("--name", default=None, help="file stem in src/ganforge/weights/; default: {data}_classifier "
                   "(cnn), mnist_classifier2 (resnet)")
    p.add_argument("--out", type=Path, default=None, help="a path instead of src/ganforge/weights/{name}.pt")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    train(a.data, arch=a.arch, epochs=a.epochs, train_n=a.train_n, batch_size=a.batch_size, lr=a.lr, shift=a.shift,
          seed=a.seed, width=a.width, root=a.root, out=a.out, name=a.name, threads=a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())

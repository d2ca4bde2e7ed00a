"""Train the feature / judge classifier shipped with ganforge and save its weights into the package.

    python scripts/train_classifier.py                  # mnist: 4,500 train digits, 8 epochs, ~2-4 min on 2 cores
    python scripts/train_classifier.py --data fashion   # Fashion-MNIST, a 40,000-image subset, 2 epochs, ~5 min
    python scripts/train_classifier.py --data fashion --train-n 0 --epochs 4   # all 60,000 images

Trains ``ganforge.nets.classifier.DigitClassifier`` on the ``train`` split (seeded; random shifts of up to
+-2 px; Adam with a cosine learning-rate decay), prints the accuracy on the held-out ``test`` split and writes
``src/ganforge/weights/{data}_classifier.pt``: a plain dict ``{"state_dict", "arch", "data", "test_accuracy",
"train_n", ...}`` that ``torch.load(path, weights_only=True)`` reads. ``ganforge.metrics.features`` loads it
as the "mnist" / "fashion" feature network of FID, KID, precision-recall and the classifier scores.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.nets.classifier import DigitClassifier

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "src" / "ganforge" / "weights"
DEFAULTS = {"mnist": {"epochs": 8, "train_n": 0}, "fashion": {"epochs": 2, "train_n": 40_000}}


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
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on float images (N, 1, 28, 28) in [-1, 1] and labels (N,)."""
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / len(x)


def train(data: str = "mnist", *, epochs: int | None = None, train_n: int | None = None, batch_size: int = 128,
          lr: float = 2e-3, shift: int = 2, seed: int = 0, width: int = 32, feature_dim: int = 128,
          root: str | None = None, out: Path | None = None, threads: int = 2) -> dict:
    """Train, evaluate on the test split, save; returns the saved dict (without the state_dict)."""
    from ganforge.data.images import fingerprint, load_images  # late: the data module is optional at import

    if data not in DEFAULTS:
        raise SystemExit(f"--data must be one of {sorted(DEFAULTS)}, got {data!r}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    epochs = DEFAULTS[data]["epochs"] if epochs is None else epochs
    train_n = DEFAULTS[data]["train_n"] if train_n is None else train_n
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
    arch = {"num_classes": int(train_set.num_classes), "width": width, "feature_dim": feature_dim,
            "in_channels": int(x.shape[1])}
    model = DigitClassifier(**arch)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    steps = epochs * math.ceil(len(x) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    print(f"{data}: {len(x)} train / {len(x_test)} test images, {epochs} epochs, "
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
    meta = {"arch": arch, "data": data, "test_accuracy": float(test_acc), "train_n": int(len(x)),
            "test_n": int(len(x_test)), "epochs": int(epochs), "seed": int(seed), "shift": int(shift),
            "data_fingerprint": str(fingerprint(train_set)), "torch": str(torch.__version__)}
    out = Path(out) if out is not None else WEIGHTS_DIR / f"{data}_classifier.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tmp = out.with_suffix(".tmp")
    torch.save({"state_dict": state, **meta}, tmp)
    tmp.replace(out)  # atomic: a reader never sees half a file
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)", flush=True)
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="mnist", choices=sorted(DEFAULTS))
    p.add_argument("--epochs", type=int, default=None, help="default: 8 for mnist, 2 for fashion")
    p.add_argument("--train-n", type=int, default=None,
                   help="train on a random subset of this size (0 = all); default: all for mnist, 40000 for fashion")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (one-cycle schedule)")
    p.add_argument("--shift", type=int, default=2, help="random shift augmentation, pixels (0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", default=None, help="dataset folder passed to load_images")
    p.add_argument("--out", type=Path, default=None, help="default: src/ganforge/weights/{data}_classifier.pt")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    train(a.data, epochs=a.epochs, train_n=a.train_n, batch_size=a.batch_size, lr=a.lr, shift=a.shift,
          seed=a.seed, root=a.root, out=a.out, threads=a.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the sentence encoder shipped with ganforge (and the image encoder it is matched against).

    python scripts/train_text_encoder.py                       # captioned digits, gray + colour: ~3 min on 2 cores
    python scripts/train_text_encoder.py --root ~/birds --out birds_text.pt   # a captioned image folder of yours

Reed et al. (2016) condition the generator on a sentence embedding learned jointly with an image
embedding, so that a caption lands near the images it describes. This script does that at digit
scale: ``ganforge.nets.text.TextEncoder`` (word embeddings + a bidirectional GRU) and ``ImageEncoder``
(a small CNN) are trained together with a symmetric contrastive matching loss; in each batch every image
is paired with one of its captions drawn at random, and other pairs with the same words are not counted
as mismatches. The data are the training splits of ``captioned-digits`` and ``captioned-colordigits``
(``ganforge.data.captions``: captions from each digit's label and measured attributes, some attribute
combinations held out), at 32 px, gray digits given as 3 equal channels.

It prints, and stores beside the weights, retrieval accuracy on the held-out test splits: for the first
caption of each test image, the encoder ranks that image among 99 other test images drawn at random;
"top-1 words" counts a hit when the top-ranked image has the caption's digit and attribute words (images
that share them are equally right), "top-1 digit" when it has the caption's digit, and "held-out" is the
same on the test images whose combinations training never saw. Seeded (``--seed``), so a rerun on the same
machine gives the same weights. Writes ``src/ganforge/weights/text_encoder.pt`` (``torch.load(path,
weights_only=True)`` reads it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganforge.data.captions import HELD_OUT, captioned_digits
from ganforge.nets.text import DEFAULT_PATH, ImageEncoder, TextEncoder, Vocabulary, matching_loss, save_encoders


def _sets(root: str | None, split: str, size: int) -> list:
    if root:
        from ganforge.data.images import load_images

        s = load_images("images", root=root, split=split, size=size, channels=3)
        if s.captions is None:
            sys.exit(f"{root} has no captions (a captions.jsonl, or a .txt beside each image)")
        return [s]
    return [captioned_digits(split, size), captioned_digits(split, size, colour=True)]


def _keys(s, i: int, caption: str | None = None) -> tuple:
    """What makes two pairs mean the same: the words (built-in sets) or the caption itself (a user's)."""
    if s.words is None:
        return (caption,)
    w = s.words[i]
    return (int(s.y[i]), w.get("thickness"), w.get("slant"), w.get("fg"), w.get("bg"))


def retrieval(text: TextEncoder, image: ImageEncoder, sets: list, seed: int = 0, pool: int = 100) -> dict:
    """Top-1 accuracy of caption -> image retrieval among ``pool`` test images (see the module docstring)."""
    rng = np.random.default_rng(seed)
    hits = {"words": [], "digit": [], "held_out": []}
    with torch.no_grad():
        for s in sets:
            x = s.to_float()
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            img = torch.cat([image(x[i:i + 256]) for i in range(0, len(x), 256)])  # (N, dim)
            txt = text.encode([c[0] for c in s.captions])  # (N, dim)
            n = len(x)
            for i in range(n):
                others = rng.choice(np.delete(np.arange(n), i), size=min(pool - 1, n - 1), replace=False)
                cand = np.concatenate([[i], others])
                best = int(cand[int((img[cand] @ txt[i]).argmax())])
                words_hit = _keys(s, best, s.captions[best][0]) == _keys(s, i, s.captions[i][0])
                hits["words"].append(words_hit)
                if s.y is not None:
                    hits["digit"].append(int(s.y[best]) == int(s.y[i]))
                if s.words is not None and (int(s.y[i]), s.words[i]["thickness"], s.words[i]["slant"]) in HELD_OUT:
                    hits["held_out"].append(words_hit)
    return {k: float(np.mean(v)) if v else None for k, v in hits.items()} | {"pool": pool}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="a captioned image folder of yours instead of the captioned digits")
    p.add_argument("--out", type=Path, default=DEFAULT_PATH)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=32)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    train = _sets(args.root, "train", args.size)
    vocab = Vocabulary.build(c for s in train for caps in s.captions for c in caps)
    text, image = TextEncoder(vocab, dim=args.dim), ImageEncoder(3, dim=args.dim)
    params = list(text.parameters()) + list(image.parameters())
    xs = [s.to_float() for s in train]
    xs = [x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x for x in xs]
    index = [(k, i) for k, s in enumerate(train) for i in range(len(s))]
    steps = args.epochs * (len(index) // args.batch)
    opt = torch.optim.Adam(params, lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    print(f"{len(index)} training images, {len(vocab)} words, {steps} steps", flush=True)
    step = 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(index))
        losses = []
        for b in range(len(index) // args.batch):
            pick = [index[j] for j in order[b * args.batch:(b + 1) * args.batch]]
            caps = [train[k].captions[i][int(rng.integers(len(train[k].captions[i])))] for k, i in pick]
            keys = [_keys(train[k], i, c) for (k, i), c in zip(pick, caps, strict=True)]
            same = torch.tensor([[a == b for b in keys] for a in keys])
            x = torch.stack([xs[k][i] for k, i in pick])
            loss = matching_loss(image(x), text.encode(caps), same=same)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.3f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    text.eval()
    image.eval()
    acc = retrieval(text, image, _sets(args.root, "test", args.size), seed=args.seed)
    print(f"retrieval on the test split, top-1 of {acc['pool']}: words {acc['words']:.3f}, digit "
          f"{acc['digit'] if acc['digit'] is None else round(acc['digit'], 3)}, held-out combinations "
          f"{acc['held_out'] if acc['held_out'] is None else round(acc['held_out'], 3)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_encoders(args.out, text, image, retrieval=acc, data=args.root or "captioned-digits+captioned-colordigits",
                  seed=args.seed, epochs=args.epochs, size=args.size, train_n=len(index),
                  seconds=round(time.perf_counter() - t0, 1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

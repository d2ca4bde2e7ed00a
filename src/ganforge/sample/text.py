"""Inference for text-to-image runs: images from sentences, sentence interpolation, caption-based scores.

    run = ganforge.load_run("runs/t2i")
    x = run.sample(16, text="a thin four leaning left")        # (16, H, W, C) uint8
    run.save_grid("grid.png", text="a thick seven leaning right")
    run.save_interpolation("walk.png", text="a thin 4", to_text="a thick 4")   # the paper's Figure 8 idea
    run.text_scores(n=1000)          # digit / attribute accuracy against the captions, R-precision

Without ``text``, samples are conditioned on captions of the run's own data: the training captions for
``generate`` (so FID compares like with like), held-out captions for the pictures (one per row).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.sample.images import ImageModel

MAX_TEXT = 500  # characters of one sentence


class TextImageModel(ImageModel):
    """An :class:`ImageModel` whose generator takes a sentence embedding (``T``, the run's text encoder)."""

    def __init__(self, cfg: Config, models: dict[str, torch.nn.Module], extra_state: dict[str, torch.Tensor],
                 device: torch.device | str = "cpu") -> None:
        super().__init__(cfg, models, extra_state, device)
        self.T = models["T"]
        self._captions: dict[str, list[list[str]]] = {}

    @property
    def capabilities(self) -> frozenset[str]:
        """An image run's, and ``text``: samples follow a sentence (``--text``)."""
        return super().capabilities | {"text"}

    def captions(self, split: str = "train") -> list[list[str]]:
        """The data's captions per image of a split (read once)."""
        if split not in self._captions:
            from ganforge.data import image_data

            self._captions[split] = image_data(self.config.data, split).captions or [[""]]
        return self._captions[split]

    def texts_for(self, n: int, text: str | list[str] | None, g: torch.Generator, split: str = "train") -> list[str]:
        """``n`` sentences: ``text`` repeated (a list: one per sample, or one for all), or captions of the
        data's ``split`` drawn with ``g``."""
        if text is None:
            caps = self.captions(split)
            idx = torch.randint(len(caps), (n,), generator=g).tolist()
            pick = torch.rand(n, generator=g).tolist()
            return [caps[i][int(p * len(caps[i]))] for i, p in zip(idx, pick, strict=True)]
        texts = [text] if isinstance(text, str) else list(text)
        for t in texts:
            if not isinstance(t, str) or not t.strip():
                raise GanforgeError("--text must be a non-empty sentence")
            if len(t) > MAX_TEXT:
                raise GanforgeError(f"--text is {len(t)} characters long; at most {MAX_TEXT}")
        if len(texts) == 1:
            texts = texts * n
        if len(texts) != n:
            raise GanforgeError(f"got {len(texts)} sentences for {n} samples")
        return texts

    def labels_for(self, n: int, labels: Any) -> None:
        if labels is not None:
            raise GanforgeError("this run is conditioned on sentences, not class labels: use --text")
        return None

    def embed(self, texts: list[str]) -> torch.Tensor:
        """(n, dim) sentence embeddings of ``texts`` from the run's encoder (each distinct sentence once)."""
        unique = list(dict.fromkeys(texts))
        with torch.no_grad():
            e = torch.cat([self.T.encode(unique[i:i + 1000]) for i in range(0, len(unique), 1000)]).cpu()
        where = {t: i for i, t in enumerate(unique)}
        return e[torch.tensor([where[t] for t in texts])]

    def unknown_words(self, text: str) -> list[str]:
        """The words of ``text`` the encoder never saw in training (they count as one unknown word)."""
        from ganforge.data.captions import tokens

        return [t for t in tokens(text) if t not in self.T.vocab.ids]

    def generate(self, n: int, seed: int = 0, labels: Any = None, batch: int = 500,
                 z: torch.Tensor | None = None, truncation: float | None = None,
                 text: str | list[str] | None = None, embeddings: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` images (n, C, H, W) in [-1, 1] for ``text`` (or captions of the training data; ``embeddings``
        (n, dim) overrides both)."""
        if labels is not None:
            raise GanforgeError("this run is conditioned on sentences, not class labels: use --text")
        given = z is not None
        z, g = self.latents(n, seed, z, truncation)
        if given and text is None:  # captions of their own for each block of given z (evaluation streams blocks)
            g = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(z.numpy().tobytes()) + 1)
        e = embeddings if embeddings is not None else self.embed(self.texts_for(n, text, g))
        return self.forward_G(z, e, batch)

    def sample(self, n: int, seed: int = 0, labels: Any = None, truncation: float | None = None,
               text: str | list[str] | None = None) -> np.ndarray:
        from ganforge.pixels import to_uint8

        self._check_sample(n)
        x = self.generate(n, seed, labels, truncation=truncation, text=text)
        return to_uint8(x).permute(0, 2, 3, 1).numpy()

    def grid_texts(self, rows: int = 8, seed: int = 1234) -> list[str]:
        """One held-out caption per row of the default picture, drawn with ``seed``."""
        return self.texts_for(rows, None, torch.Generator().manual_seed(seed), split="test")

    def grid(self, n: int = 64, seed: int = 0, labels: Any = None, nrow: int | None = None,
             truncation: float | None = None, text: str | list[str] | None = None) -> torch.Tensor:
        """A picture: ``n`` samples of ``text``; without it, 8 rows of n / 8, each row one held-out caption."""
        from ganforge.pixels import make_grid

        if text is None:
            rows = 8
            cols = max(1, n // rows)
            text = [t for t in self.grid_texts(rows) for _ in range(cols)]
            n, nrow = rows * cols, cols
        self._check_grid(n)
        x = self.generate(n, seed, labels, truncation=truncation, text=text)
        return make_grid((x + 1) / 2, nrow=nrow or int(np.ceil(np.sqrt(n))), padding=2, pad_value=1.0)

    def save_grid(self, path: str | Path, n: int = 64, seed: int = 0, labels: Any = None,
                  nrow: int | None = None, truncation: float | None = None,
                  text: str | list[str] | None = None) -> Path:
        from ganforge.pixels import save_image

        path = Path(path)
        grid = self.grid(n, seed, labels, nrow, truncation, text=text)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        return path

    def save_picture(self, path: str | Path, title: str = "") -> None:
        self.save_grid(path, n=64, seed=1234)

    def picture_caption(self) -> str:
        texts = "; ".join(f"{i + 1}. {t}" for i, t in enumerate(self.grid_texts()))
        return ("Generated images, one row per held-out caption (8 each), from the same latent vectors (seed 1234) "
                f"at every step. Rows: {texts}.")

    def report_commands(self, run_dir: Path) -> list[str]:
        return [f"ganforge sample {run_dir} --text 'a thin four leaning left' --n 16 --out four.png",
                f"ganforge interpolate {run_dir} --text 'a thin seven' --to-text 'a thick seven' --out walk.png",
                f"ganforge eval {run_dir}"]

    def interpolate(self, rows: int = 4, steps: int = 10, method: str | None = "slerp", seed: int = 0,
                    labels: Any = None, text: str | None = None, to_text: str | None = None) -> torch.Tensor:
        """(rows, steps, C, H, W). With ``text`` and ``to_text``: each row keeps one z and walks the sentence
        embedding from one to the other (linearly); otherwise a latent walk per row, each row with one caption
        (``text``, or a held-out caption)."""
        if to_text is not None and text is None:
            raise GanforgeError("--to-text needs --text (the sentence to start from)")
        if labels is not None:
            raise GanforgeError("this run is conditioned on sentences, not class labels: use --text")
        if to_text is None:
            if rows < 1:
                raise GanforgeError(f"rows must be >= 1, got {rows}")
            from ganforge.latent import interpolate as walk

            g = torch.Generator().manual_seed(seed)
            ends = torch.randn(rows, 2, self.G.z_dim, generator=g)
            try:
                z = torch.cat([walk(e[0], e[1], steps, method or "slerp") for e in ends])
            except ValueError as e:
                raise GanforgeError(str(e)) from None
            texts = [text] * rows if text is not None else self.grid_texts(rows, seed)
            x = self.generate(rows * steps, z=z, text=[t for t in texts for _ in range(steps)])
            return x.reshape(rows, steps, *x.shape[1:])
        if rows < 1 or steps < 2:
            raise GanforgeError(f"rows must be >= 1 and steps >= 2, got {rows} and {steps}")
        a, b = self.embed(self.texts_for(1, text, torch.Generator()) + self.texts_for(1, to_text, torch.Generator()))
        t = torch.linspace(0, 1, steps)[:, None]
        e = ((1 - t) * a + t * b).repeat(rows, 1)  # (rows * steps, dim)
        z = torch.randn(rows, self.G.z_dim, generator=torch.Generator().manual_seed(seed)).repeat_interleave(steps, 0)
        x = self.generate(rows * steps, z=z, embeddings=e)
        return x.reshape(rows, steps, *x.shape[1:])

    def interpolation_caption(self, rows: int, steps: int, method: str, seed: int, space: str = "z") -> str:
        return (f"Latent interpolation: each of the {rows} rows walks in {steps} images from one random z to another "
                f"(seed {seed}, {method}) with one held-out caption per row, so only the noise changes: the "
                "style of the writing, not what the sentence asks for.")

    # ---------------------------------------------------------------- caption scores

    def text_scores(self, n: int = 1000, seed: int = 0, held_out: bool = True) -> dict[str, Any]:
        """How well samples follow their captions: digit and attribute accuracy, the same on held-out
        combinations, R-precision, beside the held-out images' own (:mod:`ganforge.metrics.text`)."""
        from ganforge.metrics.text import text_scores

        return text_scores(self, n=n, seed=seed, held_out=held_out)

"""Inference for translation runs (pix2pix, cyclegan): translate, triptychs (scores: ``ganforge.metrics.sampled``).

    run = ganforge.load_run("runs/inpaint")          # a TranslationRun
    out = run.translate(x)                           # (N, C, S, S) in [-1, 1] -> the same shape, A -> B
    run.translate(x, direction="BtoA")               # cyclegan: F, B -> A
    run.translate_folder("photos/", "out/")          # every image file: resized to the run's size, translated
    run.save_triptychs("trip.png", n=8)              # rows of input | output | target from the held-out split
    run.evaluate()                                   # paired: L1 / PSNR / SSIM vs copying the input;
                                                     # cyclegan: cycle L1, label preservation, FID

Generators run in eval mode (batch norm on running statistics, dropout off), so the same input gives
the same output. (pix2pix's paper kept dropout on at test time as noise; ``noise=True`` does that.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config import Config
from ganforge.errors import GanforgeError
from ganforge.metrics.sampled import spread
from ganforge.pixels import to_signed
from ganforge.sample.limits import check_memory, check_picture
from ganforge.sample.toy import eval_mode

DIRECTIONS = ("AtoB", "BtoA")


class TranslationModel:
    """A trained translator. Args: cfg (resolved), models ({"G", "D"} of the recipe), extra_state, device."""

    def __init__(self, cfg: Config, models: dict[str, torch.nn.Module], extra_state: dict[str, torch.Tensor],
                 device: torch.device | str = "cpu") -> None:
        self.config = cfg
        self.models = models
        self.cyclic = cfg.recipe == "cyclegan"
        self.device = torch.device(device)
        self.size, self.channels = int(cfg.data.size), int(cfg.data.channels)
        self._clf: Any = None

    @property
    def capabilities(self) -> frozenset[str]:
        """``translate`` (files, folders, triptychs) and ``cyclic`` for CycleGAN's two directions."""
        return frozenset({"translate"} | ({"cyclic"} if self.cyclic else set()))

    def report_pictures(self, run_dir: Path) -> list[tuple[Path, str]]:
        return [(self.save_triptychs(run_dir / "triptychs.png", n=8), "8 held-out examples, one per row: "
                 + self._triptych_words())]

    def _triptych_words(self) -> str:
        return ("the input from domain A | G(input), its translation to B | F(G(input)), translated back to A "
                "(close to the input when the cycle holds)" if self.cyclic else
                "the input | G(input), the translation | the true target")

    def picture_caption(self) -> str:
        """What the training loop's picture (``save_picture``) shows, in words."""
        return ("The same held-out examples at every step, in two columns of triptychs: "
                + self._triptych_words() + ".")

    def report_commands(self, run_dir: Path) -> list[str]:
        back = f"ganforge translate {run_dir} --input FOLDER --out translated_BtoA --direction BtoA"
        return [f"ganforge translate {run_dir} --input FOLDER --out translated",
                f"ganforge sample {run_dir} --n 8 --out triptychs.png"] + ([back] if self.cyclic else [])

    # ---------------------------------------------------------------- translation

    def generator(self, direction: str = "AtoB") -> torch.nn.Module:
        if direction not in DIRECTIONS:
            raise GanforgeError(f"direction must be AtoB or BtoA, got {direction!r}")
        G = self.models["G"]
        if self.cyclic:
            return G.G if direction == "AtoB" else G.F
        if direction == "BtoA":
            raise GanforgeError("a pix2pix run translates one way (A -> B of its data); train another with "
                                "--set data.direction=BtoA for the other way")
        return G

    @torch.no_grad()
    def translate(self, x: torch.Tensor | np.ndarray, direction: str = "AtoB", batch: int = 256,
                  noise: bool = False) -> torch.Tensor:
        """(N, C, S, S) float in [-1, 1] (or uint8) -> (N, C, S, S) float32 in [-1, 1] on the CPU."""
        net = self.generator(direction)
        x = torch.as_tensor(x)
        if x.dtype == torch.uint8:
            x = to_signed(x)
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.channels, self.size, self.size):
            raise GanforgeError(f"this run translates (N, {self.channels}, {self.size}, {self.size}) images, got "
                                f"{tuple(x.shape)}")
        out = []
        with eval_mode(net):
            if noise:  # pix2pix's test-time dropout
                for m in net.modules():
                    if isinstance(m, torch.nn.Dropout):
                        m.train()
            for i in range(0, len(x), batch):
                out.append(net(x[i:i + batch].float().to(self.device)).float().cpu())
        return torch.cat(out)

    def load_inputs(self, path: str | Path) -> tuple[torch.Tensor, list[str]]:
        """An image file or a folder of them -> ((N, C, S, S) uint8 at the run's size and channels, names)."""
        from ganforge.data.formats import read_images
        from ganforge.data.imageset import convert
        from ganforge.data.paired import _image_files

        path = Path(path).expanduser()
        if path.is_dir():
            files = _image_files(path)
            if not files:
                raise GanforgeError(f"no images in {path}")
        elif path.is_file():
            files = [path]
        else:
            raise GanforgeError(f"input {path} does not exist")
        per_image = self.channels * self.size * self.size * 10  # uint8 in, float32 out and their batches
        check_memory(len(files) * per_image, f"{len(files):,} input images at {self.size}x{self.size}",
                     "translate a smaller folder at a time")
        x = torch.stack(read_images(files, str(path), convert=lambda t: convert(t, self.size, self.channels)))
        return x, [p.name for p in files]

    def translate_folder(self, inputs: str | Path, out: str | Path, direction: str = "AtoB") -> list[Path]:
        """Translate an image file or every image in a folder; writes ``out/<name>.png`` for each."""
        from ganforge.pixels import save_image

        x, names = self.load_inputs(inputs)
        y = self.translate(x, direction)
        out = Path(out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for img, name in zip(y, names, strict=True):
            p = out / f"{Path(name).stem}.png"
            save_image((img + 1) / 2, p)
            paths.append(p)
        return paths

    # ---------------------------------------------------------------- held-out data and pictures

    def held_out(self, split: str = "test"):
        from ganforge.data.paired import translation_data

        return translation_data(self.config.data, split, unpaired=self.cyclic)

    def triptychs(self, n: int = 8, split: str = "test") -> torch.Tensor:
        """(n, 3, C, S, S) in [-1, 1]: input | output | target (paired), input | G(input) | F(G(input)) (cyclegan)."""
        if n < 1:
            raise GanforgeError(f"n must be >= 1, got {n}")
        s = self.held_out(split)
        idx = spread(n, len(s.A))
        a = to_signed(s.A[idx])
        fake = self.translate(a)
        third = self.translate(fake, "BtoA") if self.cyclic else to_signed(s.B[idx])
        return torch.stack([a, fake, third], 1)

    def save_triptychs(self, path: str | Path, n: int = 8, split: str = "test") -> Path:
        from ganforge.pixels import make_grid, save_image

        check_picture(3 * min(n, len(self.held_out(split).A)), self.size, self.size, "a picture of triptychs",
                      "lower n or save them as arrays (.npz)")
        t = (self.triptychs(n, split) + 1) / 2
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(make_grid(t.flatten(0, 1), nrow=3, padding=2, pad_value=1.0), path)
        return path

    def save_picture(self, path: str | Path, title: str = "") -> Path:
        """The training loop's picture: 8 triptychs (two columns of four) from the held-out split; one column of
        as many as it holds when that is fewer."""
        from ganforge.pixels import make_grid, save_image

        n = min(8, len(self.held_out("test").A))
        t = (self.triptychs(n) + 1) / 2  # (n, 3, C, S, S)
        if n == 8:
            grid = make_grid(t.reshape(2, 4, *t.shape[1:]).transpose(0, 1).flatten(0, 2), nrow=6, padding=2,
                             pad_value=1.0)
        else:
            grid = make_grid(t.flatten(0, 1), nrow=3, padding=2, pad_value=1.0)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(grid, path)
        return path

    # ---------------------------------------------------------------- measurement

    def classifier(self):
        from ganforge.metrics.features import get_extractor

        if self._clf is None:
            self._clf = get_extractor("mnist", self.device)
        return self._clf

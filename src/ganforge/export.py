"""Take a generator with you: TorchScript, ONNX or safetensors files of a run's sampling generator.

    from ganforge.export import export_generator, load_generator
    export_generator("runs/ring8", "ring8.onnx")          # format by extension: .pt, .onnx, .safetensors
    export_generator("runs/horse2zebra", "F.pt", direction="BtoA")   # CycleGAN: one of its two generators
    G = load_generator("ring8.safetensors")                # a plain nn.Module: no training code, no D
    x = G(torch.randn(1000, 2))                            # (1000, 2) points in data coordinates

The exported module is the generator ``ganforge sample`` uses (``G_ema`` when the run kept one, else ``G``), in
eval mode, inside a small wrapper that adds the sampler's fixed post-processing, so that it gives the sampler's
numbers for the same inputs:

- 2-D runs (:class:`PointGenerator`): ``z`` (B, z_dim) -> points (B, 2) in data coordinates (the data scaling
  kept in the checkpoint is baked in);
- DCGAN and BigGAN runs (:class:`ImageGenerator`): ``z`` (B, z_dim) [, ``labels`` (B,) int64 for a conditional,
  BigGAN or InfoGAN / cluster run] -> images (B, C, S, S) in [-1, 1] (truncation: draw z truncated yourself);
- StyleGAN runs (:class:`StyleImageGenerator`): ``z``, ``psi`` (B,) truncation and ``noise`` (B, noise_dim)
  standard normal (every layer's per-pixel noise, flattened and joined) -> images clamped to [-1, 1];
  ``w_avg`` is baked in;
- pix2pix / CycleGAN runs (:class:`Translator`): ``x`` (B, C, S, S) in [-1, 1] -> (B, C, S, S) in [-1, 1].

A ``.safetensors`` file holds the wrapper's weights and, in its metadata under the key ``"ganforge"``, a JSON
description: the generator's class and constructor arguments, the wrapper kind, the inputs and the output.
:func:`load_generator` rebuilds the module from it (only ganforge's own generator classes are accepted).
A ``.pt`` file is a traced TorchScript module (``torch.jit.load``) with the same JSON as its extra file
``ganforge.json``; an ``.onnx`` file has the same inputs and output, a dynamic batch axis, and the JSON in its
metadata (``metadata_props``).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.checkpoint import atomic_path
from ganforge.errors import GanforgeError
from ganforge.nets.layers import draw_noise

__all__ = ["FORMATS", "export_generator", "load_generator", "generator_module", "read_spec", "PointGenerator",
           "ImageGenerator", "ConditionalImageGenerator", "StyleImageGenerator", "Translator", "TextImageGenerator",
           "ExportError"]

FORMATS = {".pt": "TorchScript", ".onnx": "ONNX", ".safetensors": "safetensors"}
SPEC_FORMAT = "ganforge-generator"
SPEC_VERSION = 1
SPEC_KEY = "ganforge"  # the safetensors / ONNX metadata key; ganforge.json in a TorchScript file
EXTRA = "pip install 'ganforge[export]'"
ONNX_OPSET = 18


class ExportError(GanforgeError):
    """A generator that cannot be exported or an exported file that cannot be loaded."""


# --------------------------------------------------------------------------- the wrappers


class PointGenerator(nn.Module):
    """A 2-D run's generator with its data scaling: z (B, z_dim) float32 -> points (B, 2) float32 in data
    coordinates, ``G(z) * data_scale + data_mean`` (as :meth:`ganforge.sample.ToyModel.sample`)."""

    kind = "points"

    def __init__(self, G: nn.Module, data_mean: torch.Tensor, data_scale: torch.Tensor) -> None:
        super().__init__()
        self.G = G
        self.z_dim, self.z_dist = int(G.z_dim), str(getattr(G, "z_dist", "gaussian"))
        self.register_buffer("data_mean", torch.as_tensor(data_mean, dtype=torch.float32).detach().clone())
        self.register_buffer("data_scale", torch.as_tensor(data_scale, dtype=torch.float32).detach().clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.G(z)  # (B, 2) in the standardised coordinates G was trained in
        return x * self.data_scale + self.data_mean  # (B, 2) in data coordinates

    def inputs(self) -> list[dict[str, Any]]:
        return [_io("z", ["B", self.z_dim], "float32", "standard normal noise" if self.z_dist == "gaussian"
                    else "uniform noise on [-1, 1]")]

    def output(self) -> dict[str, Any]:
        return _io("points", ["B", 2], "float32", "data coordinates")

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        return (draw_noise(n, self.z_dim, self.z_dist, generator=_rng()),)


class ImageGenerator(nn.Module):
    """An unconditional image generator (DCGAN): z (B, z_dim) float32 -> images (B, C, S, S) float32 in [-1, 1]."""

    kind = "images"

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G
        self.z_dim, self.channels, self.size = int(G.z_dim), int(G.channels), int(G.size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)  # (B, C, S, S) in [-1, 1] (tanh)

    def inputs(self) -> list[dict[str, Any]]:
        return [_io("z", ["B", self.z_dim], "float32", "standard normal noise")]

    def output(self) -> dict[str, Any]:
        return _io("images", ["B", self.channels, self.size, self.size], "float32", "[-1, 1]")

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        return (torch.randn(n, self.z_dim, generator=_rng()),)


class ConditionalImageGenerator(ImageGenerator):
    """A conditional (or InfoGAN / cluster-coded) DCGAN generator: z (B, z_dim) float32 and labels (B,) int64
    in 0 .. num_classes - 1 -> images (B, C, S, S) float32 in [-1, 1]."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__(G)
        self.num_classes = int(G.num_classes)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.G(z, labels)  # (B, C, S, S) in [-1, 1]

    def inputs(self) -> list[dict[str, Any]]:
        return super().inputs() + [_io("labels", ["B"], "int64", f"0 .. {self.num_classes - 1}")]

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        return torch.randn(n, self.z_dim, generator=_rng()), torch.arange(n) % self.num_classes


class StyleImageGenerator(nn.Module):
    """A StyleGAN generator with the truncation trick and its noise as inputs.

    z (B, z_dim) float32, psi (B,) float32 (one per sample; 1 = no truncation) and noise (B, noise_dim) float32
    -> images (B, C, S, S) float32 clamped to [-1, 1]. w = mapping(z) is pulled towards the baked-in ``w_avg``:
    w' = w_avg + psi (w - w_avg), on every layer. ``noise`` holds every style layer's per-pixel noise map
    (B, 1, r, r), flattened and joined in layer order (``noise_sizes``): standard normal values give the
    sampler's random noise, zeros no noise.
    """

    kind = "style"

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G
        self.z_dim, self.channels, self.size = int(G.z_dim), int(G.channels), int(G.size)
        self.num_ws = int(G.num_ws)
        self.layer_res = [int(r) for r in G.synthesis.layer_res]
        self.noise_sizes = [r * r for r in self.layer_res]
        self.noise_dim = sum(self.noise_sizes)

    def forward(self, z: torch.Tensor, psi: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        w = self.G.mapping(z)  # (B, w_dim)
        ws = w[:, None].expand(-1, self.num_ws, -1)  # (B, num_ws, w_dim)
        ws = self.G.w_avg.lerp(ws, psi.reshape(-1, 1, 1))  # the truncation trick on every layer
        maps = [n.reshape(-1, 1, r, r) for n, r in zip(torch.split(noise, self.noise_sizes, 1), self.layer_res,
                                                        strict=True)]
        return self.G.synthesis(ws, noise=maps).clamp(-1, 1)  # (B, C, S, S)

    def pack_noise(self, maps: list[torch.Tensor]) -> torch.Tensor:
        """Per-layer noise maps (a list of (B, 1, r, r), as ``G.synthesis.make_noise`` draws) -> (B, noise_dim)."""
        return torch.cat([m.flatten(1) for m in maps], 1)

    def inputs(self) -> list[dict[str, Any]]:
        return [_io("z", ["B", self.z_dim], "float32", "standard normal noise"),
                _io("psi", ["B"], "float32", "truncation per sample: 1 = off, 0 = the average image"),
                _io("noise", ["B", self.noise_dim], "float32",
                    f"standard normal: per-pixel noise of layers at {self.layer_res} px, each (r, r) row-major, "
                    "joined in layer order; zeros = no noise")]

    def output(self) -> dict[str, Any]:
        return _io("images", ["B", self.channels, self.size, self.size], "float32", "[-1, 1] (clamped)")

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        g = _rng()
        z = torch.randn(n, self.z_dim, generator=g)
        return z, torch.full((n,), 0.7), torch.randn(n, self.noise_dim, generator=g)


class Translator(nn.Module):
    """A pix2pix or CycleGAN generator: x (B, C, S, S) float32 in [-1, 1] -> (B, C, S, S) float32 in [-1, 1]."""

    kind = "translate"

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G
        self.in_channels, self.out_channels, self.size = int(G.in_channels), int(G.out_channels), int(G.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.G(x)  # (B, C, S, S) in [-1, 1] (tanh)

    def inputs(self) -> list[dict[str, Any]]:
        return [_io("x", ["B", self.in_channels, self.size, self.size], "float32", "[-1, 1]")]

    def output(self) -> dict[str, Any]:
        return _io("images", ["B", self.out_channels, self.size, self.size], "float32", "[-1, 1]")

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        return (torch.rand(n, self.in_channels, self.size, self.size, generator=_rng()) * 2 - 1,)


class TextImageGenerator(nn.Module):
    """A text-to-image generator with its sentence encoder: z (B, z_dim) float32 and tokens (B, L) int64 word ids
    -> images (B, C, S, S) float32 in [-1, 1].

    ``tokens`` are right-padded with 0; 1 is an unknown word and ``2 + i`` the word ``vocabulary[i]`` of the spec
    (words: the lower-cased matches of ``tokenizer``, a regular expression, in order). :meth:`tokens` makes them
    from sentences as ``ganforge sample --text`` does; in an ONNX or TorchScript file the spec has the vocabulary
    and the expression."""

    kind = "text"

    def __init__(self, G: nn.Module, T: nn.Module) -> None:
        super().__init__()
        self.G, self.T = G, T
        self.z_dim, self.channels, self.size = int(G.z_dim), int(G.channels), int(G.size)

    def forward(self, z: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.G(z, self.T(tokens))  # (B, C, S, S) in [-1, 1]

    def tokens(self, texts: list[str]) -> torch.Tensor:
        """(B, L) int64 word ids of ``texts`` for :meth:`forward`."""
        return self.T.vocab.encode(texts)

    def inputs(self) -> list[dict[str, Any]]:
        return [_io("z", ["B", self.z_dim], "float32", "standard normal noise"),
                _io("tokens", ["B", "L"], "int64", "word ids, right-padded with 0; 1 = unknown word, "
                    "2 + i = vocabulary[i]")]

    def output(self) -> dict[str, Any]:
        return _io("images", ["B", self.channels, self.size, self.size], "float32", "[-1, 1]")

    def example(self, n: int = 2) -> tuple[torch.Tensor, ...]:
        texts = ["a thick seven leaning right", "a thin 4", "an upright zero with bold strokes"]
        return torch.randn(n, self.z_dim, generator=_rng()), self.tokens([texts[i % 3] for i in range(n)])


def _rng() -> torch.Generator:
    """Example inputs for tracing and checking come from their own generator: the global RNG is left alone."""
    return torch.Generator().manual_seed(0)


def _io(name: str, shape: list[Any], dtype: str, values: str) -> dict[str, Any]:
    return {"name": name, "shape": shape, "dtype": dtype, "values": values}


# --------------------------------------------------------------------------- from a run to a wrapper and its spec


def _classes() -> dict[str, type[nn.Module]]:
    """The generator classes a spec may name: ganforge's own, nothing imported by name from a file."""
    from ganforge.nets.biggan import BigGANGenerator
    from ganforge.nets.dcgan import DCGANGenerator
    from ganforge.nets.mlp import MLPGenerator
    from ganforge.nets.resnet import ResnetGenerator
    from ganforge.nets.stylegan import StyleGenerator
    from ganforge.nets.text2image import TextToImageGenerator
    from ganforge.nets.unet import UNetGenerator

    return {c.__name__: c for c in (MLPGenerator, DCGANGenerator, BigGANGenerator, StyleGenerator, UNetGenerator,
                                    ResnetGenerator, TextToImageGenerator)}


_WRAPPERS: dict[str, type[nn.Module]] = {"points": PointGenerator, "images": ImageGenerator,
                                          "style": StyleImageGenerator, "translate": Translator,
                                          "text": TextImageGenerator}


def _constructor_args(net: nn.Module, cfg: Any) -> dict[str, Any]:
    """The keyword arguments that rebuild ``net`` (as the recipe's ``build_models`` made it from ``cfg``)."""
    m, name = cfg.model, type(net).__name__
    if name == "MLPGenerator":
        return dict(z_dim=int(m.z_dim), width=int(m.g_width), depth=int(m.g_depth), out_dim=2,
                    batchnorm=m.g_norm == "batch", z_dist=getattr(net, "z_dist", "gaussian"))
    if name == "DCGANGenerator":
        return dict(z_dim=net.z_dim, size=net.size, channels=net.channels, ngf=int(m.g_width), upsample=m.upsample,
                    num_classes=net.num_classes,
                    embed_dim=net.embed.embedding_dim if net.embed is not None else 0)
    if name == "BigGANGenerator":
        return dict(z_dim=net.z_dim, size=net.size, channels=net.channels, ngf=int(m.g_width),
                    num_classes=net.num_classes, shared_dim=int(m.shared_dim))
    if name == "StyleGenerator":
        return dict(z_dim=net.z_dim, w_dim=net.w_dim, size=net.size, channels=net.channels, ngf=int(m.g_width),
                    map_layers=net.mapping.num_layers, style=net.synthesis.style)
    if name == "TextToImageGenerator":
        return dict(z_dim=net.z_dim, text_dim=net.text_dim, proj_dim=net.proj_dim, size=net.size,
                    channels=net.channels, ngf=int(m.g_width), ca=bool(net.ca))
    if name == "UNetGenerator":
        return dict(size=net.size, in_channels=net.in_channels, out_channels=net.out_channels, ngf=int(m.g_width),
                    norm=m.g_norm, dropout=float(m.dropout))
    if name == "ResnetGenerator":
        from ganforge.recipes.translation import blocks_for

        return dict(size=net.size, in_channels=net.in_channels, out_channels=net.out_channels, ngf=int(m.g_width),
                    blocks=blocks_for(cfg), norm=m.g_norm)
    raise ExportError(f"cannot export a {name} generator (export knows {', '.join(_classes())})")


def _wrap(net: nn.Module, kind: str, extra: dict[str, torch.Tensor] | None = None,
          text: nn.Module | None = None) -> nn.Module:
    if kind == "points":
        if extra is None or "data_mean" not in extra or "data_scale" not in extra:
            raise ExportError("this 2-D run's checkpoint has no data scaling (data_mean, data_scale)")
        wrapper: nn.Module = PointGenerator(net, extra["data_mean"].cpu(), extra["data_scale"].cpu())
    elif kind == "images":
        wrapper = ConditionalImageGenerator(net) if int(getattr(net, "num_classes", 0) or 0) else ImageGenerator(net)
    elif kind == "text":
        if text is None:
            raise ExportError("this text-to-image generator has no sentence encoder")
        wrapper = TextImageGenerator(net, text)
    else:
        wrapper = _WRAPPERS[kind](net)
    return wrapper.cpu().eval().requires_grad_(False)


def _run_of(run: Any) -> Any:
    from ganforge.sample import Run, load_run

    return run if isinstance(run, Run) else load_run(run)


def generator_module(run: Any, direction: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The wrapped sampling generator of a run (a :class:`~ganforge.sample.Run` or a run folder) and its spec.

    ``direction`` (``AtoB`` | ``BtoA``) picks a translation run's generator (CycleGAN: G or F); other runs take
    none."""
    with torch.random.fork_rng(devices=[]):  # building networks draws initial weights: not from the caller's RNG
        return _generator_module(run, direction)


def _generator_module(run: Any, direction: str | None) -> tuple[nn.Module, dict[str, Any]]:
    from ganforge._version import __version__

    run = _run_of(run)
    sampler, cfg = run.sampler, run.config
    if run.can("translate"):
        net, kind = sampler.generator(direction or "AtoB"), "translate"
    else:
        if direction is not None:
            raise ExportError("--direction applies to translation runs (recipe pix2pix or cyclegan)")
        net = sampler.G
        kind = "text" if run.can("text") else "style" if run.can("style") else "images" if run.can("images") \
            else "points"
    args = _constructor_args(net, cfg)
    fresh = _classes()[type(net).__name__](**args)  # the spec must rebuild this very network
    try:
        fresh.load_state_dict(net.state_dict())
    except RuntimeError as e:
        raise ExportError(f"internal: the {type(net).__name__} rebuilt from its arguments does not fit the run's "
                          f"weights ({str(e)[:160]})") from None
    text = _text_encoder(sampler.T) if kind == "text" else None
    wrapper = _wrap(fresh, kind, getattr(sampler, "extra", None), text)
    spec = {"format": SPEC_FORMAT, "version": SPEC_VERSION, "kind": kind,
            "wrapper": type(wrapper).__name__,
            "generator": {"class": type(net).__name__, "kwargs": args},
            "inputs": wrapper.inputs(), "output": wrapper.output(),
            "recipe": cfg.recipe, "data": str(cfg.data.name), "step": int(run.step), "ganforge": __version__}
    if kind == "translate":
        spec["direction"] = direction or "AtoB"
    if text is not None:
        from ganforge.data.captions import WORD_PATTERN

        spec["text_encoder"] = {"class": "TextEncoder", "kwargs": text_encoder_args(text)}
        spec["vocabulary"] = list(text.vocab.words)
        spec["tokenizer"] = {"regex": WORD_PATTERN.pattern, "lowercase": True, "max_words": 32}
    return wrapper, spec


def text_encoder_args(T: nn.Module) -> dict[str, Any]:
    """The keyword arguments that rebuild a :class:`~ganforge.nets.text.TextEncoder` (its vocabulary included)."""
    return {"vocab": list(T.vocab.words), "dim": int(T.dim), "emb": int(T.emb_dim), "hidden": int(T.hidden)}


def _text_encoder(T: nn.Module, kwargs: dict[str, Any] | None = None) -> nn.Module:
    """A fresh copy of the run's sentence encoder (or one built from ``kwargs``), on the CPU, with ``T``'s weights."""
    from ganforge.nets.text import TextEncoder

    with torch.random.fork_rng(devices=[]):
        fresh = TextEncoder(**(kwargs or text_encoder_args(T)))
    if T is not None:
        fresh.load_state_dict({k: v.detach().cpu() for k, v in T.state_dict().items()})
    return fresh


# --------------------------------------------------------------------------- writing


def _need(*modules: str) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ExportError(f"this needs the {name} package: {EXTRA}") from None


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"unknown export format {path.suffix or '(no extension)'!r} in {path.name[:60]!r}; "
                          f"the file name must end in {', '.join(FORMATS)}")
    return suffix


def export_generator(run: Any, out: str | Path, direction: str | None = None, check: bool = True) -> dict[str, Any]:
    """Write a run's sampling generator to ``out``: ``.pt`` (TorchScript), ``.onnx`` or ``.safetensors``
    (weights + constructor arguments, for :func:`load_generator`). Atomic: a temporary file beside ``out``,
    then a rename. ``check`` (ONNX): run the file in onnxruntime on random inputs and compare with PyTorch.
    Returns the spec (also stored in the file) plus ``"max_abs_diff"`` of the ONNX check."""
    out = Path(out).expanduser()
    suffix = _format(out)
    if out.is_dir():
        raise ExportError(f"{str(out)[:60]!r} is an existing folder; give a file name")
    if suffix == ".onnx":
        _need("onnx", "onnxscript", *(("onnxruntime",) if check else ()))
    elif suffix == ".safetensors":
        _need("safetensors")
    wrapper, spec = generator_module(run, direction)
    spec_json = json.dumps(spec, sort_keys=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, keep_suffix=True) as tmp:
        if suffix == ".safetensors":
            from safetensors.torch import save_file

            tensors = {k: v.detach().cpu().contiguous().clone() for k, v in wrapper.state_dict().items()}
            save_file(tensors, str(tmp), metadata={SPEC_KEY: spec_json})
        elif suffix == ".pt":
            traced = _trace(wrapper)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit.save's "deprecated, use torch.export"
                torch.jit.save(traced, str(tmp), _extra_files={"ganforge.json": spec_json})
        else:
            diff = _write_onnx(wrapper, spec, spec_json, tmp, check)
            if diff is not None:
                spec["max_abs_diff"] = diff
    return spec


def _trace(wrapper: nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings about the networks' shape checks (constant here)
        return torch.jit.trace(wrapper, wrapper.example(), check_trace=False)


def _write_onnx(wrapper: nn.Module, spec: dict[str, Any], spec_json: str, path: Path, check: bool) -> float | None:
    """torch.onnx.export's torch.export-based exporter (onnxscript; offline) with a dynamic batch axis."""
    import onnx

    names = [i["name"] for i in spec["inputs"]]
    dims: dict[str, Any] = {}  # one torch.export.Dim per named axis ("B", a text's "L"), shared by the inputs
    dynamic = tuple({a: dims.setdefault(d, torch.export.Dim(d)) for a, d in enumerate(i["shape"]) if isinstance(d, str)}
                    for i in spec["inputs"])
    with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(wrapper, wrapper.example(), input_names=names,
                                        output_names=[spec["output"]["name"]],
                                        dynamic_shapes=dynamic, opset_version=ONNX_OPSET,
                                        dynamo=True, verbose=False)
            program.save(str(path), external_data=False)
        except Exception as e:  # an operator the exporter cannot convert: one line, not its traceback
            first = (str(e).strip().splitlines() or [""])[0]
            raise ExportError(f"ONNX export failed: {type(e).__name__}: {first[:200]}") from None
    model = onnx.load(str(path))
    model.metadata_props.add(key=SPEC_KEY, value=spec_json)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    if not check:
        return None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    probe = wrapper.example(3)  # a batch size other than the traced one: the batch axis must be dynamic
    got = sess.run(None, {n: t.numpy() for n, t in zip(names, probe, strict=True)})[0]
    with torch.no_grad():
        want = wrapper(*probe).numpy()
    diff = float(abs(got - want).max()) if got.shape == want.shape else math.inf
    if not diff <= 1e-3:
        raise ExportError(f"the ONNX file does not reproduce the generator (max abs difference {diff:.3g}, shape "
                          f"{tuple(got.shape)} vs {tuple(want.shape)})")
    return diff


# --------------------------------------------------------------------------- reading


def _check_spec(spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        raise ExportError(f"{where} is not a ganforge generator export")
    if not isinstance(spec.get("version"), int) or spec["version"] > SPEC_VERSION:
        raise ExportError(f"{where} was written by a newer ganforge (export format {spec.get('version')!r})")
    return spec


def _parse(text: str | bytes | None, where: str) -> dict[str, Any]:
    try:
        return _check_spec(json.loads(text) if text is not None else None, where)
    except (ValueError, TypeError):
        raise ExportError(f"{where} is not a ganforge generator export (its description is not JSON)") from None


def read_spec(path: str | Path) -> dict[str, Any]:
    """The JSON description stored in an exported file (any of the three formats)."""
    path = Path(path).expanduser()
    suffix = _format(path)
    where = repr(str(path)[:60])
    if not path.is_file():
        raise ExportError(f"export file {where} does not exist")
    if suffix == ".safetensors":
        _need("safetensors")
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
        except Exception:  # safetensors raises its own SafetensorError for a file that is not one
            raise ExportError(f"{where} is not a readable safetensors file") from None
        return _parse(meta.get(SPEC_KEY), where)
    if suffix == ".pt":
        files = {"ganforge.json": ""}
        _jit_load(path, where, files)
        return _parse(files["ganforge.json"] or None, where)
    _need("onnx")
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        raise ExportError(f"{where} is not a readable ONNX file") from None
    return _parse({p.key: p.value for p in model.metadata_props}.get(SPEC_KEY), where)


def _jit_load(path: Path, where: str, files: dict[str, Any]) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's "deprecated, use torch.export"
            return torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    except Exception:  # torch raises RuntimeError / ValueError for a file that is no TorchScript archive
        raise ExportError(f"{where} is not a TorchScript file (a .pt written by `ganforge export`)") from None


def load_generator(path: str | Path, direction: str | None = None) -> nn.Module:
    """The sampling generator as a plain ``nn.Module`` in eval mode (no discriminator, optimiser or training code).

    ``path``: a run folder or ``pretrained:NAME`` (``direction`` picks a CycleGAN's G or F), a ``.safetensors``
    file (rebuilt from its stored constructor arguments) or a ``.pt`` TorchScript file of ``ganforge export``. An
    ``.onnx`` file is refused: run it with onnxruntime. The module's inputs and output are those of the wrappers
    above; ``module.ganforge_spec`` describes them."""
    p = Path(path).expanduser()
    if p.is_dir() or p.suffix.lower() not in FORMATS:  # a run folder (or pretrained:NAME): load_run says what is wrong
        wrapper, spec = generator_module(path, direction)
        wrapper.ganforge_spec = spec
        return wrapper
    if direction is not None:
        raise ExportError("direction applies to a run folder; an exported file holds one generator")
    suffix = _format(p)
    where = repr(str(p)[:60])
    if not p.is_file():
        raise ExportError(f"{where} does not exist")
    if suffix == ".onnx":
        raise ExportError(f"{where} is an ONNX file: run it with onnxruntime (load_generator reads a run folder, "
                          ".safetensors or .pt)")
    if suffix == ".pt":
        files = {"ganforge.json": ""}
        module = _jit_load(p, where, files)
        module.ganforge_spec = _parse(files["ganforge.json"] or None, where)
        return module.eval()
    spec = read_spec(p)
    from safetensors.torch import load_file

    gen, kind = spec.get("generator"), spec.get("kind")
    classes = _classes()
    if (not isinstance(gen, dict) or gen.get("class") not in classes or not isinstance(gen.get("kwargs"), dict)
            or kind not in _WRAPPERS):
        raise ExportError(f"{where}: unknown generator {str(gen)[:80]} or kind {str(kind)[:40]}")
    try:
        with torch.random.fork_rng(devices=[]):
            net = classes[gen["class"]](**gen["kwargs"])
    except (TypeError, ValueError) as e:
        raise ExportError(f"{where}: cannot rebuild {gen['class']} ({str(e)[:160]})") from None
    state = load_file(str(p))
    extra, text = None, None
    if kind == "points":
        extra = {k: state.get(k, torch.zeros(())) for k in ("data_mean", "data_scale")}
    if kind == "text":
        enc = spec.get("text_encoder")
        if not isinstance(enc, dict) or enc.get("class") != "TextEncoder" or not isinstance(enc.get("kwargs"), dict):
            raise ExportError(f"{where}: a text-to-image export without its sentence encoder's description")
        try:
            text = _text_encoder(None, enc["kwargs"])
        except (TypeError, ValueError) as e:
            raise ExportError(f"{where}: cannot rebuild its TextEncoder ({str(e)[:160]})") from None
    wrapper = _wrap(net, kind, extra, text)
    try:
        wrapper.load_state_dict(state)
    except RuntimeError as e:
        raise ExportError(f"{where}: the weights do not fit {gen['class']} ({str(e)[:160]})") from None
    wrapper.ganforge_spec = spec
    return wrapper.eval()

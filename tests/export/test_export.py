"""`ganforge export` and `ganforge.load_generator`: every recipe's generator in every format gives the sampler's
numbers for the same inputs (atol 1e-5 for .pt / .safetensors, 1e-4 for ONNX in onnxruntime); user mistakes are
one line and exit 2, and a failed export leaves the old file."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.export import export_generator, load_generator, read_spec
from ganforge.sample import load_run

FIXTURES = Path(__file__).parent.parent / "fixtures" / "runs-0.1"
TOL = {".pt": 1e-5, ".safetensors": 1e-5, ".onnx": 1e-4}
CASES = {  # id -> (run, --direction)
    "ring8": ("ring8", None), "mnist-cond": ("mnist-cond", None), "stylegan": ("stylegan", None),
    "cyclegan-AtoB": ("cyclegan", None), "cyclegan-BtoA": ("cyclegan", "BtoA"), "pix2pix": ("pix2pix", None),
}
ONNX_CASES = ("ring8", "mnist-cond", "stylegan", "cyclegan-BtoA", "pix2pix")  # each takes seconds: one CycleGAN way
PIX2PIX = ["train.steps=2", "model.g_width=8", "model.d_width=8", "train.batch_size=2", "train.progress=false",
           "train.eval_every=0", "train.sample_every=0", "train.log_every=1", "eval.n=10"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The 0.1 fixture runs, copied, and a 2-step pix2pix (inpaint, U-Net with batch norm and dropout) run."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("ring8", "mnist-cond", "stylegan", "cyclegan"):
        out[name] = shutil.copytree(FIXTURES / name, root / name)
    out["pix2pix"] = root / "pix2pix"
    argv = ["train", "inpaint", "--out", str(out["pix2pix"]), "--device", "cpu"]
    assert main(argv + [a for s in PIX2PIX for a in ("--set", s)]) == 0
    out["text2image"] = root / "text2image"
    argv = ["train", "text2image-digits", "--out", str(out["text2image"]), "--device", "cpu"]
    assert main(argv + [a for s in PIX2PIX + ["model.ca=true"] for a in ("--set", s)]) == 0
    return out


def sampler_case(run, case: str, n: int = 5, seed: int = 3, psi: float = 0.7):
    """The exported module's inputs and what the run's sampler gives for them (float32 numpy)."""
    g = torch.Generator().manual_seed(seed)
    if run.can("translate"):
        x = torch.rand(n, run.channels, run.size, run.size, generator=g) * 2 - 1
        return (x,), run.translate(x, CASES[case][1] or "AtoB").numpy()
    z = torch.randn(n, run.G.z_dim, generator=g)  # what the samplers draw first from Generator(seed)
    if run.can("style"):  # then the per-layer noise, from the same generator
        noise = torch.cat([m.flatten(1) for m in run.G.synthesis.make_noise(n, generator=g)], 1)
        return (z, torch.full((n,), psi), noise), run.generate(n, seed, truncation=psi).numpy()
    if run.can("images"):
        labels = torch.randint(run.G.num_classes, (n,), generator=g)
        return (z, labels), run.generate(n, seed, labels=labels).numpy()
    return (z,), run.sample(n, seed)


def onnx_outputs(path: Path, spec: dict, inputs) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == [i["name"] for i in spec["inputs"]]
    return sess.run(None, {i["name"]: t.numpy() for i, t in zip(spec["inputs"], inputs, strict=True)})[0]


def outputs(path: Path, inputs) -> np.ndarray:
    if path.suffix == ".onnx":
        return onnx_outputs(path, read_spec(path), inputs)
    with torch.no_grad():
        return load_generator(path)(*inputs).numpy()


def one_line_error(capsys, argv, *matches) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err
    assert "Traceback" not in err + out
    for m in matches:
        assert m in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- the numbers


@pytest.mark.parametrize("case,fmt", [(c, f) for c in CASES for f in (".pt", ".safetensors", ".onnx")
                                      if f != ".onnx" or c in ONNX_CASES])
def test_exported_file_gives_the_samplers_numbers(runs, tmp_path, capsys, case, fmt):
    name, direction = CASES[case]
    out = tmp_path / f"{case}{fmt}"
    argv = ["export", runs[name], "--out", out] + (["--direction", direction] if direction else [])
    assert main([str(a) for a in argv]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left beside it
    run = load_run(runs[name])
    inputs, want = sampler_case(run, case)
    got = outputs(out, inputs)
    assert got.shape == want.shape and got.dtype == np.float32
    assert np.abs(got - want).max() <= TOL[fmt], np.abs(got - want).max()
    if run.can("style"):  # no truncation: psi = 1 is the plain sampler
        inputs, want = sampler_case(run, case, psi=1.0)
        assert np.abs(outputs(out, inputs) - want).max() <= TOL[fmt]


TEXTS = ["a thin four leaning left", "handwritten 7 with bold strokes, slanted to the right", "a 3",
         "a zebra-striped eight"]  # word counts other than the traced example's; an unknown word


def spec_tokens(spec: dict, texts: list[str]) -> torch.Tensor:
    """Word ids from the spec alone (its vocabulary and expression), as a user of the ONNX file would make them."""
    import re

    ids = {w: i + 2 for i, w in enumerate(spec["vocabulary"])}
    words = [re.findall(spec["tokenizer"]["regex"], t.lower())[:spec["tokenizer"]["max_words"]] for t in texts]
    out = torch.zeros(len(texts), max(map(len, words)), dtype=torch.int64)
    for i, w in enumerate(words):
        out[i, :len(w)] = torch.tensor([ids.get(x, 1) for x in w])
    return out


@pytest.mark.parametrize("fmt", (".pt", ".safetensors", ".onnx"))
def test_a_text_to_image_export_follows_the_sentence_as_sample_does(runs, tmp_path, capsys, fmt):
    out = tmp_path / f"t2i{fmt}"
    assert main(["export", str(runs["text2image"]), "--out", str(out)]) == 0
    assert "tokens (B, L)" in capsys.readouterr().out
    spec = read_spec(out)
    assert spec["kind"] == "text" and spec["text_encoder"]["class"] == "TextEncoder"
    run = load_run(runs["text2image"])
    n, seed = len(TEXTS), 3
    z = torch.randn(n, run.G.z_dim, generator=torch.Generator().manual_seed(seed))
    want = run.generate(n, seed, text=TEXTS).numpy()  # conditioning augmentation: its mean, as in sampling
    tokens = spec_tokens(spec, TEXTS)
    assert torch.equal(tokens, run.T.vocab.encode(TEXTS))
    got = outputs(out, (z, tokens))
    assert got.shape == want.shape == (n, 1, 32, 32)
    assert np.abs(got - want).max() <= TOL[fmt], np.abs(got - want).max()
    if fmt == ".safetensors":  # rebuilt in Python: it makes its own tokens
        G = load_generator(out)
        assert torch.equal(G.tokens(TEXTS), tokens)
        with torch.no_grad():  # one sentence alone: no padding, another L
            one = G(z[:1], G.tokens(TEXTS[:1])).numpy()
        assert np.abs(one - want[:1]).max() <= TOL[fmt]


def test_a_batch_size_other_than_the_traced_one(runs, tmp_path):
    out = tmp_path / "g.pt"
    export_generator(runs["mnist-cond"], out)
    run = load_run(runs["mnist-cond"])
    for n in (1, 7):
        inputs, want = sampler_case(run, "mnist-cond", n=n)
        assert np.abs(outputs(out, inputs) - want).max() <= 1e-5


def test_export_leaves_the_global_rng_alone(runs, tmp_path):
    torch.manual_seed(1)
    want = torch.rand(3)
    for fmt in (".pt", ".safetensors"):
        torch.manual_seed(1)
        export_generator(runs["stylegan"], tmp_path / f"g{fmt}")
        load_generator(tmp_path / f"g{fmt}")
        assert torch.equal(torch.rand(3), want), fmt


# --------------------------------------------------------------------------- load_generator


def test_load_generator_from_a_run_folder_and_back(runs, tmp_path):
    G = ganforge.load_generator(runs["ring8"])  # the top-level name
    assert isinstance(G, torch.nn.Module) and not G.training
    assert {k.split(".")[0] for k, _ in G.named_parameters()} == {"G"}  # the generator alone: no D
    run = load_run(runs["ring8"])
    inputs, want = sampler_case(run, "ring8")
    with torch.no_grad():
        assert np.abs(G(*inputs).numpy() - want).max() == 0
    F = load_generator(runs["cyclegan"], direction="BtoA")
    assert F.ganforge_spec["direction"] == "BtoA"
    want = load_run(runs["cyclegan"]).sampler.generator("BtoA").state_dict()
    assert all(torch.equal(v, want[k]) for k, v in F.G.state_dict().items())


@pytest.mark.parametrize("name", ["ring8", "mnist-cond", "stylegan", "cyclegan", "pix2pix"])
def test_safetensors_rebuilds_the_generator_from_its_arguments(runs, tmp_path, name):
    from safetensors import safe_open

    out = tmp_path / "g.safetensors"
    spec = export_generator(runs[name], out)
    with safe_open(str(out), framework="pt") as f:
        stored = json.loads(f.metadata()["ganforge"])
    assert stored == json.loads(json.dumps(spec))  # the JSON is in the file's metadata
    assert stored["format"] == "ganforge-generator" and stored["generator"]["kwargs"]
    G = load_generator(out)
    run = load_run(runs[name])
    sampling = run.sampler.generator("AtoB") if run.can("translate") else run.G  # G_ema where the run has one
    assert type(G.G) is type(sampling) and not G.training
    for (k, v), (k2, v2) in zip(G.G.state_dict().items(), sampling.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    pt = tmp_path / "g.pt"
    export_generator(runs[name], pt)
    S = load_generator(pt)
    assert isinstance(S, torch.jit.ScriptModule) and S.ganforge_spec == stored


@pytest.mark.parametrize("name", ["mnist-cond", "stylegan"])
def test_the_exported_generator_is_g_ema(runs, name):
    from ganforge import checkpoint

    models = checkpoint.load_latest(runs[name])["models"]
    G = load_generator(runs[name]).G.state_dict()
    assert all(torch.equal(v, models["G_ema"][k]) for k, v in G.items())
    assert not all(torch.equal(v, models["G"][k]) for k, v in G.items())


# --------------------------------------------------------------------------- mistakes


def test_user_mistakes_are_one_line(runs, tmp_path, capsys):
    r = runs["ring8"]
    one_line_error(capsys, ["export", r, "--out", tmp_path / "g.h5"], "--out must end in .pt", ".onnx")
    one_line_error(capsys, ["export", r, "--out", tmp_path / "g"], "--out must end in")
    (tmp_path / "dir.onnx").mkdir()
    one_line_error(capsys, ["export", r, "--out", tmp_path / "dir.onnx"], "is an existing folder")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, ["export", tmp_path / "empty", "--out", tmp_path / "g.pt"], "not a ganforge run")
    one_line_error(capsys, ["export", tmp_path / "missing", "--out", tmp_path / "g.pt"], "does not exist")
    (tmp_path / "file.txt").write_text("x")
    one_line_error(capsys, ["export", tmp_path / "file.txt", "--out", tmp_path / "g.pt"], "not a run folder")
    one_line_error(capsys, ["export", r, "--out", tmp_path / "g.pt", "--direction", "BtoA"],
                   "applies to translation runs")
    one_line_error(capsys, ["export", runs["pix2pix"], "--out", tmp_path / "g.pt", "--direction", "BtoA"],
                   "translates one way")
    one_line_error(capsys, ["export", r, "--out", tmp_path / "g.pt", "--direction", "sideways"], "invalid choice")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.onnx", "empty", "file.txt"]


@pytest.mark.parametrize("fmt,module", [(".onnx", "onnx"), (".onnx", "onnxscript"), (".onnx", "onnxruntime"),
                                        (".safetensors", "safetensors")])
def test_a_missing_export_extra_names_it(runs, tmp_path, capsys, monkeypatch, fmt, module):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    one_line_error(capsys, ["export", runs["ring8"], "--out", tmp_path / f"g{fmt}"], module,
                   "pip install 'ganforge[export]'")
    assert not list(tmp_path.iterdir())


def test_a_failed_export_leaves_the_old_file(runs, tmp_path, capsys, monkeypatch):
    from ganforge import export

    out = tmp_path / "g.pt"
    out.write_bytes(b"old")

    def broken(wrapper):
        raise export.ExportError("tracing failed")

    monkeypatch.setattr(export, "_trace", broken)
    one_line_error(capsys, ["export", runs["ring8"], "--out", out], "tracing failed")
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["g.pt"]


def test_load_generator_refuses_foreign_files(runs, tmp_path):
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"w": torch.zeros(2)}, ckpt)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 40)
    (tmp_path / "g.onnx").write_bytes(b"x")
    out = tmp_path / "g.safetensors"
    export_generator(runs["ring8"], out)
    data = out.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    spec = json.loads(header["__metadata__"]["ganforge"])
    spec["generator"]["class"] = "os.system"
    header["__metadata__"]["ganforge"] = json.dumps(spec)
    raw = json.dumps(header).encode()
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n:])
    cases = [(plain, "not a ganforge generator export"), (ckpt, "not a TorchScript file"),
             (junk, "not a readable safetensors"), (tmp_path / "g.onnx", "run it with onnxruntime"),
             (evil, "unknown generator"), (tmp_path / "none.pt", "does not exist"),
             (tmp_path / "no-run", "does not exist")]
    for path, match in cases:
        with pytest.raises(GanforgeError, match=match):
            load_generator(path)
    with pytest.raises(GanforgeError, match="direction applies to a run folder"):
        load_generator(out, direction="BtoA")


def test_a_uniform_noise_run_exports_its_noise(tmp_path):
    run = tmp_path / "u"
    argv = ["train", "ring8", "--out", str(run), "--device", "cpu"]
    sets = ["model.z_dist=uniform", "train.steps=3", "model.g_width=8", "model.d_width=8", "train.progress=false",
            "train.eval_every=0", "train.sample_every=0", "train.log_every=1", "train.final_eval=false"]
    assert main(argv + [a for s in sets for a in ("--set", s)]) == 0
    out = tmp_path / "g.safetensors"
    spec = export_generator(run, out)
    assert spec["generator"]["kwargs"]["z_dist"] == "uniform"
    assert "uniform" in spec["inputs"][0]["values"]
    G = load_generator(out)
    assert G.G.z_dist == "uniform"
    with torch.no_grad():
        got = G(torch.rand(4, G.z_dim, generator=torch.Generator().manual_seed(3)) * 2 - 1).numpy()
    assert np.allclose(got, load_run(run).sample(4, seed=3), atol=1e-5)  # the sampler draws U[-1, 1] too

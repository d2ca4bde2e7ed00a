"""A one-file offline HTML report for a training run, that leads with the result.

Usage::

    from ganforge.viz import write_report

    write_report("runs/ring8", title="ring8 / gan", config=cfg, history=history,
                 eval_result={"model": {...}, "floor": {...}, "provenance": {...}},
                 images=[("runs/ring8/curves.png", "Training curves against the step")],
                 filmstrip=[("runs/ring8/samples/step_00001000.png", "step 1000"), ...],
                 commands=["ganforge train ring8 --out runs/ring8"], defaults=plain_defaults)

The page opens with the run's key measure beside its floor in plain words (:func:`headline`: FID and KID for
image runs, modes and high-quality samples for 2-D toys, class accuracy for conditional runs, PSNR or label
preservation for translation), then the sample pictures over training as a filmstrip, the other pictures with
captions, the evaluation table with a one-line meaning per metric, how the curves' last points relate to the
table, and the run's own config keys. The result, ``run_dir/report.html``, has no external resources: styles
are inline and images are embedded as base64 PNG data URIs, so it can be mailed, archived or opened offline.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import yaml

from ganforge.checkpoint import atomic_write_text

_CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
    "max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
    "h1{margin-bottom:.2em}.summary{color:#555}figure{display:inline-block;margin:.5em 1em .5em 0;"
    "vertical-align:top;max-width:100%}"
    "figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption{font-size:.85em;color:#555;max-width:60em}"
    ".headline{font-size:1.15em;background:#f4f7fb;border-left:4px solid #4a78b0;padding:.6em 1em}"
    ".headline p{margin:.3em 0}"
    ".film{display:flex;gap:.6em;overflow-x:auto;padding-bottom:.4em}"
    ".film figure{flex:0 0 auto;margin:0;text-align:center}.film img{max-height:220px}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.3em .8em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
    "td.meaning{text-align:left;font-size:.85em;color:#444;max-width:32em}"
    ".prov,.note{font-size:.85em;color:#555}"
    "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;border:1px solid #e3e3e3}"
)

#: The most sample pictures the filmstrip embeds; beyond it, evenly spaced ones (first and last kept).
MAX_FILM = 40

#: One line per metric: what it measures, and which way is better. Keys with a network or domain suffix
#: (fid2, kid2, fid_B, label_acc_AtoB, cycle_l1_A) use their stem's line (:func:`meaning`).
MEANINGS: dict[str, str] = {
    "fid": "Fréchet distance between Gaussians fitted to the features of generated and training images; "
           "lower is better, and biased upward at small n (compare with the floor, measured at the same n).",
    "kid": "Kernel distance (unbiased MMD² with a cubic kernel) between generated and training features; "
           "lower is better; an unbiased estimate, so it scatters around 0 for equal distributions and can be "
           "negative.",
    "precision": "fraction of generated images inside the real images' feature manifold (quality); higher is "
                 "better.",
    "recall": "fraction of real images inside the generated images' manifold (diversity); higher is better.",
    "class_acc": "how often the digit classifier recognises the requested class in a generated image; higher "
                 "is better.",
    "class_is": "Inception-score-style spread of the classifier's predictions (distinct, confident classes); "
                "higher is better, at most the number of classes.",
    "modes": "mixture components with at least one generated point near them; higher is better, at most the "
             "data's count.",
    "hq": "% of generated points within the high-quality radius of a mode (eval.hq_threshold standard "
          "deviations); higher is better.",
    "reverse_kl": "KL(generated modes || uniform): how unevenly the good samples spread over the modes; lower "
                  "is better, n/a when no sample is high-quality.",
    "w1": "Wasserstein-1 (earth mover's) distance between generated and real points, in data units; lower is "
          "better.",
    "kl": "KL(real || generated) over a shared 2-D histogram (with a small pseudo-count per bin); lower is "
          "better.",
    "jsd": "Jensen-Shannon divergence over the same histogram, at most log 2 = 0.693; lower is better.",
    "mmd2": "squared maximum mean discrepancy between generated and real points (Gaussian kernel); lower is "
            "better.",
    "mmd_p": "p-value of the permutation test 'generated and real are one distribution'; small (below alpha) "
             "means the test tells them apart.",
    "l1": "mean absolute pixel difference between output and target, on [-1, 1] images; lower is better.",
    "psnr": "peak signal-to-noise ratio of output vs target, in dB; higher is better.",
    "ssim": "structural similarity of output and target, 1 = identical; higher is better.",
    "cycle_l1": "L1 between an image and its round trip through both generators; lower is better.",
    "label_acc": "how often the digit classifier still reads the input's digit after translation (label "
                 "preservation); higher is better.",
}

#: In-training metric (``Metric/<key>`` in metrics.jsonl) -> the evaluation table's key, where they differ.
CURVE_TO_TABLE = {"label_acc": "label_acc_BtoA"}


def format_value(v: object) -> str:
    """ints as ints, floats with 4 significant digits, nan/inf/None as 'n/a'."""
    if v is None or isinstance(v, bool):
        return "n/a" if v is None else str(v)
    if isinstance(v, int):
        return str(v)
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "n/a"
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else f"{f:.4g}"


def format_interval(ci: object) -> str:
    """[lo, hi] as "[lo, hi]" with 4 significant digits; anything else (no interval) as ''."""
    if not isinstance(ci, (list, tuple)) or len(ci) != 2:
        return ""
    return f"[{format_value(ci[0])}, {format_value(ci[1])}]"


def format_scores(rows: Sequence[tuple[str, object, object]]) -> str:
    """(key, model, floor or None) rows as one line: "fid 3.786 (floor 1.053), kid 0.1333 (floor ...)"."""
    return ", ".join(f"{k} {format_value(m)}" + (f" (floor {format_value(f)})" if f is not None else "")
                     for k, m, f in rows)


def meaning(key: str) -> str:
    """The one-line meaning of a metric key (``fid2`` and ``fid_B`` as ``fid``), '' when unknown."""
    if key in MEANINGS:
        return MEANINGS[key]
    m = re.fullmatch(r"(.+?)2?(_(A|B|AtoB|BtoA|cycle))?", key)
    return MEANINGS.get(m.group(1), "") if m else ""


def _plain(obj: object) -> object:
    """Config values as plain YAML types (tuples, paths and numpy scalars become lists, str, numbers)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item) and getattr(obj, "ndim", 1) == 0:
        return _plain(item())
    return str(obj)


# --------------------------------------------------------------------------- the headline

def _num(d: dict, key: str) -> float | None:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        return None
    return float(v)


def _pct(v: float) -> str:
    return f"{100 * v:.3g}%"


def _ratio(m: float, f: float | None) -> str:
    if f is None or f <= 0:
        return ""
    return f": {m / f:.1f}x the floor" if m / f >= 1.05 else ": at the floor"


def _image_lines(model: dict, floor: dict, prov: dict) -> list[str]:
    lines = []
    net = str(prov.get("features", "the feature network")).split("@")[0]
    n = prov.get("n_fake")
    fid, fid_f = _num(model, "fid"), _num(floor, "fid")
    if fid is not None:
        if fid_f is None:
            lines.append(f"FID {format_value(fid)} ({net} features, n = {n}); no floor: the data holds too few "
                         "real images for one. Lower is better.")
        else:
            lines.append(f"FID {format_value(fid)} against a floor of {format_value(fid_f)}{_ratio(fid, fid_f)}. "
                         f"The floor is held-out real images scored the same way ({net} features, n = {n}): the "
                         "best a generator can expect. Lower is better.")
    fid2, fid2_f = _num(model, "fid2"), _num(floor, "fid2")
    if fid2 is not None and fid2_f is not None:
        net2 = str(prov.get("features2", "the second network")).split("@")[0]
        worst = max(fid / fid_f if fid is not None and fid_f else 0.0, fid2 / fid2_f if fid2_f > 0 else 0.0)
        lines.append(f"In the second network ({net2}): FID {format_value(fid2)} against {format_value(fid2_f)}"
                     f"{_ratio(fid2, fid2_f)}; a claim 'within Nx the floor' must hold in both: here "
                     f"{worst:.1f}x at worst.")
    kid, kid_f = _num(model, "kid"), _num(floor, "kid")
    if kid is not None:
        lines.append(f"KID {format_value(kid)}" + (f" against a floor of {format_value(kid_f)}" if kid_f is not None
                                                   else "") + " (raw MMD², not scaled by 1000).")
    return lines


def headline(eval_result: dict | None) -> list[str]:
    """The run's result in plain sentences, the key measure beside its floor, by what ``eval.json`` holds: FID
    and KID (image runs), class accuracy first for conditional runs, modes and high-quality samples (2-D
    mixtures), W1 (other 2-D data), PSNR (pix2pix), label preservation or cycle L1 (cyclegan). [] when there is
    no evaluation."""
    if not eval_result:
        return []
    model, floor = eval_result.get("model") or {}, eval_result.get("floor") or {}
    prov = eval_result.get("provenance") or {}
    lines: list[str] = []
    if "label_acc_BtoA" in model or "cycle_l1_A" in model:  # cyclegan
        acc = [(d, _num(model, f"label_acc_{d}"), _num(floor, f"label_acc_{d}")) for d in ("BtoA", "AtoB")]
        acc = [a for a in acc if a[1] is not None]
        if acc:
            lines.append("Labels preserved: " + "; ".join(
                f"{_pct(m)} of {d[0]}→{d[-1]} translations keep their digit"
                + (f" (real images of the target domain: {_pct(f)})" if f is not None else "") for d, m, f in acc)
                + f", on {prov.get('n')} held-out images. Higher is better.")
        cyc = [(s, _num(model, f"cycle_l1_{s}"), _num(floor, f"cycle_l1_{s}")) for s in ("A", "B")]
        if all(c[1] is not None for c in cyc):
            lines.append("Cycle reconstruction L1: " + ", ".join(
                f"{s} {format_value(m)}" + (f" (unrelated {s} images: {format_value(f)})" if f is not None else "")
                for s, m, f in cyc) + "; lower is better, and a round trip that forgot its input scores like the "
                "unrelated images.")
        return lines
    if "psnr" in model:  # pix2pix
        psnr, base = _num(model, "psnr"), _num(floor, "psnr")
        lines.append(f"PSNR {format_value(psnr)} dB between G(input) and the target on {prov.get('n')} held-out "
                     "pairs" + (f"; copying the input scores {format_value(base)} dB" if base is not None else "")
                     + ". Higher is better: the model must beat the copy.")
        ssim, ssim_b = _num(model, "ssim"), _num(floor, "ssim")
        if ssim is not None:
            lines.append(f"SSIM {format_value(ssim)}" + (f" (copy: {format_value(ssim_b)})" if ssim_b is not None
                                                         else "") + "; 1 = identical.")
        return lines
    if "fid" in model or "kid" in model:  # image generation
        acc, acc_f = _num(model, "class_acc"), _num(floor, "class_acc")
        if acc is not None:
            lines.append(f"Class accuracy {_pct(acc)}: the digit classifier recognises the requested class in "
                         f"{_pct(acc)} of generated images" + (f" (held-out real images: {_pct(acc_f)})"
                                                               if acc_f is not None else "") + ".")
        return lines + _image_lines(model, floor, prov)
    modes, hq = _num(model, "modes"), _num(model, "hq")
    if modes is not None:  # a 2-D mixture
        fm, fh = _num(floor, "modes"), _num(floor, "hq")
        lines.append(f"{format_value(modes)}" + (f" of {format_value(fm)}" if fm is not None else "")
                     + f" modes covered, {format_value(hq)}% of generated points high-quality (near a mode); real "
                     f"points drawn the same way: {format_value(fm)} modes, {format_value(fh)}%. Higher is better.")
    w1, w1_f = _num(model, "w1"), _num(floor, "w1")
    if w1 is not None:
        lines.append(f"W1 (earth mover's distance) {format_value(w1)} between generated and real points"
                     + (f"; two real samples: {format_value(w1_f)}" if w1_f is not None else "")
                     + f" (n = {prov.get('n_fake', prov.get('n'))}). Lower is better.")
    return lines


def _summary(history: list[dict[str, float]], step: object = None) -> str:
    if not history:
        return "No training records."
    last = history[-1]
    parts = [f"trained {format_value(last.get('step', len(history) - 1) if step is None else step)} steps"]
    losses: dict[str, object] = {}
    for rec in history:  # the latest value of each loss, even if the last record lacks it
        losses.update({k: v for k, v in rec.items() if k.startswith("Loss/")})
    if losses:
        parts.append("last losses " + ", ".join(f"{k} {format_value(v)}" for k, v in losses.items()))
    return "; ".join(parts) + "."


# --------------------------------------------------------------------------- the table and its notes

def _eval_table(eval_result: dict) -> str:
    model, floor = eval_result.get("model") or {}, eval_result.get("floor") or {}
    names = list(model) + [k for k in floor if k not in model]
    prov = eval_result.get("provenance") or {}
    column = escape(str(prov.get("floor_column", "real floor")))
    ci = prov.get("ci") if isinstance(prov.get("ci"), dict) else {}  # older eval.json files have none
    ci_model, ci_floor = ci.get("model") or {}, ci.get("floor") or {}
    level = escape(f"{round(100 * float(ci.get('level', 0.95)))}% interval")
    head = ("<tr><th>metric</th><th>model</th>" + (f"<th>{level}</th>" if ci_model else "")
            + (f"<th>{column}</th>" if floor else "") + (f"<th>{level}</th>" if floor and ci_floor else "")
            + "<th>meaning</th></tr>")
    rows = [f"<tr><td>{escape(str(n))}</td><td>{escape(format_value(model.get(n)))}</td>"
            + (f"<td>{escape(format_interval(ci_model.get(n)))}</td>" if ci_model else "")
            + (f"<td>{escape(format_value(floor.get(n)))}</td>" if floor else "")
            + (f"<td>{escape(format_interval(ci_floor.get(n)))}</td>" if floor and ci_floor else "")
            + f'<td class="meaning">{escape(meaning(str(n)))}</td></tr>' for n in names]
    notes = "".join(f"<p>{escape(line)}</p>" for line in _floor_lines(eval_result) + _kid_lines(eval_result))
    prov_line = ", ".join(f"{k}: {v}" for k, v in prov.items() if k != "ci")
    return (f"<h2>Evaluation</h2><table>{head}{''.join(rows)}</table>{notes}"
            + (f'<p class="prov">{escape(prov_line)}</p>' if prov_line else ""))


def _kid_lines(eval_result: dict) -> list[str]:
    """KID's unit and why its floor can be negative, when the table has a KID."""
    model, floor = eval_result.get("model") or {}, eval_result.get("floor") or {}
    keys = [k for k in model if str(k).startswith("kid")]
    if not keys:
        return []
    prov = eval_result.get("provenance") or {}
    nets = " and ".join(str(prov[k]).split("@")[0] for k in ("features", "features2") if prov.get(k))
    negative = [k for k in keys if (_num(floor, k) or 0.0) < 0 or (_num(model, k) or 0.0) < 0]
    return [f"KID's unit: squared distance in the feature network's kernel space ({nets or 'its features'}), the "
            "raw MMD² (papers often print KID x 1000; ganforge does not), so compare it only with the floor in "
            "the same network. KID is an unbiased estimate: for two samples of one distribution it scatters "
            "around 0, and a value below 0 means 'no difference this sample can detect'"
            + (f" (here {', '.join(negative)})." if negative else ".")]


def _floor_lines(eval_result: dict) -> list[str]:
    from ganforge.metrics.sampled import floor_lines  # a plain function of the result dict

    return floor_lines(eval_result)


def _last_points(history: list[dict[str, float]]) -> dict[str, tuple[object, float]]:
    """{table key: (step, value)} of each in-training metric's last logged point."""
    out: dict[str, tuple[object, float]] = {}
    for i, rec in enumerate(history):
        for k, v in rec.items():
            if k.startswith("Metric/") and isinstance(v, (int, float)) and math.isfinite(float(v)):
                name = k.split("/", 1)[1]
                out[CURVE_TO_TABLE.get(name, name)] = (rec.get("step", i), float(v))
    return out


def _reconcile(history: list[dict[str, float]], eval_result: dict, config: dict) -> str:
    """The curves' last points beside the table's values, and why they differ (their sample sizes)."""
    model = eval_result.get("model") or {}
    prov = eval_result.get("provenance") or {}
    last = {k: sv for k, sv in _last_points(history).items() if k in model}
    if not last:
        return ""
    train = config.get("train") or {}
    eval_n, final_n = train.get("eval_n"), prov.get("n_fake", prov.get("n"))
    image = "fid" in model or "features" in prov
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(format_value(s))}</td><td>{escape(format_value(v))}</td>"
                   f"<td>{escape(format_value(model.get(k)))}</td></tr>" for k, (s, v) in last.items())
    against = ("against every training image" if image else "against as many real samples")
    note = (f"The curves are scored during training on train.eval_n = {format_value(eval_n)} generated samples "
            f"{against}, each time with new noise; the table on eval.n = {format_value(final_n)} "
            + ("against the reference images (the training images the floor leaves out)" if image else
               "real samples") + ", beside a floor of the same size. "
            "Scores such as FID, KL and JSD depend on the sample size (FID is biased upward at small n), so the two "
            "differ: read the result from the table and its floor, and the trend from the curves.")
    return ("<h3>Curves and table</h3><table><tr><th>metric</th><th>curve: last step</th>"
            f"<th>curve: value (n = {escape(format_value(eval_n))})</th>"
            f"<th>table (n = {escape(format_value(final_n))})</th></tr>{rows}</table>"
            f'<p class="note">{escape(note)}</p>')


# --------------------------------------------------------------------------- the config

ALWAYS_SHOWN = ("recipe", "seed", "data.name", "loss.name", "train.steps", "train.batch_size")


def own_keys(config: dict, defaults: dict | None) -> dict:
    """``config`` without the keys that hold their plain default (``defaults``, same shape): what the run's
    preset, its overrides and its recipe's resolution set, plus :data:`ALWAYS_SHOWN`. All of it when
    ``defaults`` is None."""
    if defaults is None:
        return config
    out: dict = {}
    for k, v in config.items():
        if k == "description":
            continue
        d = defaults.get(k)
        if isinstance(v, dict):
            kept = {kk: vv for kk, vv in v.items()
                    if f"{k}.{kk}" in ALWAYS_SHOWN or not isinstance(d, dict) or kk not in d or d[kk] != vv}
            if kept:
                out[k] = kept
        elif k in ALWAYS_SHOWN or k not in defaults or d != v:
            out[k] = v
    return out


# --------------------------------------------------------------------------- pictures

def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _pictures(images: Sequence[str | Path | tuple[str | Path, str]]) -> list[tuple[Path, str]]:
    """(path, caption) pairs of the existing files (a bare path is captioned with its file name)."""
    out = []
    for item in images:
        path, caption = (Path(item[0]), str(item[1])) if isinstance(item, tuple) else (Path(item), Path(item).name)
        if path.is_file():
            out.append((path, caption))
    return out


def _film(frames: list[tuple[Path, str]], caption: str) -> str:
    if not frames:
        return ""
    shown = frames
    if len(frames) > MAX_FILM:  # evenly spaced, first and last kept
        idx = sorted({round(i * (len(frames) - 1) / (MAX_FILM - 1)) for i in range(MAX_FILM)})
        shown = [frames[i] for i in idx]
    count = ("the one saved picture" if len(frames) == 1 else f"all {len(frames)} saved pictures"
             if len(shown) == len(frames) else
             f"{len(shown)} of the {len(frames)} saved pictures, evenly spaced")
    figs = "".join(f'<figure><img src="{_png(p)}" alt="{escape(c)}"><figcaption>{escape(c)}</figcaption></figure>'
                   for p, c in shown)
    return (f'<h2>Samples over training</h2><p class="note">{escape(caption)} Oldest first, {count}'
            f" (train.sample_every).</p><div class=\"film\">{figs}</div>")


def write_report(run_dir: str | Path, *, title: str, config: dict, history: list[dict[str, float]],
                 eval_result: dict | None = None, images: Sequence[str | Path | tuple[str | Path, str]] = (),
                 commands: Sequence[str] = (), filmstrip: Sequence[tuple[str | Path, str]] = (),
                 filmstrip_caption: str = "Generated samples at each saved step.",
                 defaults: dict[str, Any] | None = None) -> Path:
    """Write ``run_dir/report.html`` (self-contained, offline) and return its path.

    Sections: the title and the headline (:func:`headline`: the key measure beside its floor; the training
    summary below it), ``filmstrip`` ((path, "step N") pairs, oldest first, with ``filmstrip_caption`` saying
    what each picture shows), ``images`` ((path, caption) pairs; missing files are skipped), the evaluation
    table with each metric's meaning, the curves' last points beside it, a "Reproduce" section with
    ``commands`` and the config as YAML: only the keys that differ from ``defaults`` (the plain defaults of the
    run's sections, same shape as ``config``; None: every key). All text is HTML-escaped.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = headline(eval_result)
    if not lines:
        lines = ["No evaluation yet (train.final_eval=false, or it was not run): `ganforge eval RUN` scores the "
                 "run against its floor and rewrites this report."]
    parts = [f"<h1>{escape(title)}</h1>",
             '<div class="headline">' + "".join(f"<p>{escape(x)}</p>" for x in lines) + "</div>",
             f'<p class="summary">{escape(_summary(history))}</p>']
    parts.append(_film(_pictures(filmstrip), filmstrip_caption))
    figs = [f'<figure><img src="{_png(p)}" alt="{escape(c)}"><figcaption>{escape(c)}</figcaption></figure>'
            for p, c in _pictures(images)]
    if figs:
        parts.append("<h2>Pictures</h2>" + "".join(figs))
    if eval_result is not None:
        parts.append(_eval_table(eval_result))
        parts.append(_reconcile(history, eval_result, config))
    if commands:
        parts.append("<h2>Reproduce</h2><pre>" + escape("\n".join(commands)) + "</pre>")
    shown = own_keys(_plain(config), None if defaults is None else _plain(defaults))  # type: ignore[arg-type]
    cfg = yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, allow_unicode=True)
    note = ("" if defaults is None else '<p class="note">The keys this run sets (its preset, its overrides and '
            "what its recipe resolved); every other key has its default. config.yaml in the run folder holds "
            "them all, and `ganforge config` lists them with their meaning.</p>")
    parts.append(f"<h2>Config</h2>{note}<pre>{escape(cfg)}</pre>")
    html = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n")
    out = run_dir / "report.html"
    atomic_write_text(out, html)  # a reader (the lab, a browser) never sees half a page
    return out

"""A one-file offline HTML report for a training run.

Usage::

    from ganforge.viz import write_report

    write_report("runs/ring8", title="ring8 / gan", config=cfg, history=history,
                 eval_result={"model": {...}, "floor": {...}, "provenance": {...}},
                 images=["runs/ring8/samples/05000.png", "runs/ring8/curves.png"],
                 commands=["ganforge train ring8 --out runs/ring8"])

The result, ``run_dir/report.html``, has no external resources: styles are inline and images are embedded as
base64 PNG data URIs, so it can be mailed, archived or opened without a network.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

import yaml

from ganforge.checkpoint import atomic_write_text

_CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
    "max-width:1000px;margin:2em auto;padding:0 1em;color:#222}"
    "h1{margin-bottom:.2em}.summary{color:#555}figure{display:inline-block;margin:.5em 1em .5em 0}"
    "figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption{font-size:.85em;color:#666;text-align:center}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.3em .8em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}"
    ".prov{font-size:.8em;color:#666}"
    "pre{background:#f6f6f6;padding:.8em;overflow-x:auto;border:1px solid #e3e3e3}"
)


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


def _summary(history: list[dict[str, float]]) -> str:
    if not history:
        return "No training records."
    last = history[-1]
    parts = [f"final step {format_value(last.get('step', len(history) - 1))}"]
    losses: dict[str, object] = {}
    for rec in history:  # the latest value of each loss, even if the last record lacks it
        losses.update({k: v for k, v in rec.items() if k.startswith("Loss/")})
    parts += [f"{k} {format_value(v)}" for k, v in losses.items()]
    return ", ".join(parts)


def _eval_table(eval_result: dict) -> str:
    model, floor = eval_result.get("model") or {}, eval_result.get("floor") or {}
    names = list(model) + [k for k in floor if k not in model]
    prov = eval_result.get("provenance") or {}
    column = escape(str(prov.get("floor_column", "real floor")))
    ci = prov.get("ci") if isinstance(prov.get("ci"), dict) else {}  # older eval.json files have none
    ci_model, ci_floor = ci.get("model") or {}, ci.get("floor") or {}
    level = escape(f"{round(100 * float(ci.get('level', 0.95)))}% interval")
    head = ("<tr><th>metric</th><th>model</th>" + (f"<th>{level}</th>" if ci_model else "")
            + (f"<th>{column}</th>" if floor else "") + (f"<th>{level}</th>" if floor and ci_floor else "") + "</tr>")
    rows = [f"<tr><td>{escape(str(n))}</td><td>{escape(format_value(model.get(n)))}</td>"
            + (f"<td>{escape(format_interval(ci_model.get(n)))}</td>" if ci_model else "")
            + (f"<td>{escape(format_value(floor.get(n)))}</td>" if floor else "")
            + (f"<td>{escape(format_interval(ci_floor.get(n)))}</td>" if floor and ci_floor else "")
            + "</tr>" for n in names]
    notes = "".join(f"<p>{escape(line)}</p>" for line in _floor_lines(eval_result))
    prov_line = ", ".join(f"{k}: {v}" for k, v in prov.items() if k != "ci")
    return (f"<h2>Evaluation</h2><table>{head}{''.join(rows)}</table>{notes}"
            + (f'<p class="prov">{escape(prov_line)}</p>' if prov_line else ""))


def _floor_lines(eval_result: dict) -> list[str]:
    from ganforge.metrics.sampled import floor_lines  # a plain function of the result dict

    return floor_lines(eval_result)


def write_report(run_dir: str | Path, *, title: str, config: dict, history: list[dict[str, float]],
                 eval_result: dict | None = None, images: Sequence[str | Path] = (),
                 commands: Sequence[str] = ()) -> Path:
    """Write ``run_dir/report.html`` (self-contained, offline) and return its path.

    Sections: title and summary (final step, last losses), the given PNG images with their file names as
    captions (missing files are skipped), the evaluation table when ``eval_result`` is given, a "Reproduce"
    section with ``commands`` and the resolved config as YAML. All text is HTML-escaped.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"<h1>{escape(title)}</h1>", f'<p class="summary">{escape(_summary(history))}</p>']
    figs = []
    for img in map(Path, images):
        if img.is_file():
            data = base64.b64encode(img.read_bytes()).decode("ascii")
            figs.append(f'<figure><img src="data:image/png;base64,{data}" alt="{escape(img.name)}">'
                        f"<figcaption>{escape(img.name)}</figcaption></figure>")
    if figs:
        parts.append("<h2>Pictures</h2>" + "".join(figs))
    if eval_result is not None:
        parts.append(_eval_table(eval_result))
    if commands:
        parts.append("<h2>Reproduce</h2><pre>" + escape("\n".join(commands)) + "</pre>")
    cfg = yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False, allow_unicode=True)
    parts.append(f"<h2>Config</h2><pre>{escape(cfg)}</pre>")
    html = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    out = run_dir / "report.html"
    atomic_write_text(out, html)  # a reader (the lab, a browser) never sees half a page
    return out

"""The lecture companion page: one offline HTML file with every topic computed in a folder.

    from ganforge.explain.page import write_page
    write_page("explain/")          # -> explain/index.html, from the NAME.json + NAME.png files there

The page is built from the files ``run_topic`` writes, so ``ganforge explain nash --out explain/`` after
``ganforge explain all --out explain/`` updates that topic's section and keeps the others. Per topic: the title,
a paragraph, the figure embedded as a base64 PNG, the numbers as a table under readable names (long series
shortened to their ends, every value in NAME.json), the topic's own tables, the command that reproduces it and
one that extends it. Styles are the run report's (``ganforge.viz.report``); nothing is fetched from a network.
"""

from __future__ import annotations

import base64
import json
import math
from html import escape
from pathlib import Path
from typing import Any

from ganforge.explain.common import readable
from ganforge.viz.report import _CSS

MAX_INLINE = 24  # lists up to this long are shown whole; longer ones by their ends (all values in NAME.json)
ENDS = 4  # values shown at each end of a longer list

_PAGE_CSS = _CSS + (".topic{border-top:1px solid #ddd;margin-top:2em}.note{background:#fff8e0;padding:.5em .8em;"
                    "border-left:3px solid #e0b000}td.v{text-align:left;font-family:monospace;font-size:.85em}"
                    "td.k code{color:#888;font-size:.8em}nav li{margin:.15em 0}")


def fmt(v: Any) -> str:
    """One value for the page: 4 significant digits, integers as integers, infinity as 'inf' (never 'n/a')."""
    if isinstance(v, str):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(v, v)
    if isinstance(v, bool) or v is None:
        return {True: "yes", False: "no", None: "n/a"}[v]
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"
    return str(v)


def _cell(v: Any, name: str) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{escape(str(k))}: {_cell(x, name)}" for k, x in v.items())
    if isinstance(v, list):
        if v and isinstance(v[0], list):
            return "<br>".join("[" + ", ".join(escape(fmt(x)) for x in row) + "]" for row in v)
        if len(v) > MAX_INLINE:
            shown = ", ".join(escape(fmt(x)) for x in v[:ENDS]) + ", ..., " + ", ".join(
                escape(fmt(x)) for x in v[-ENDS:])
            return f"[{shown}] ({len(v)} values, all in {escape(name)}.json)"
        return "[" + ", ".join(escape(fmt(x)) for x in v) + "]"
    return escape(fmt(v))


def numbers_table(numbers: dict[str, Any], labels: dict[str, str] | None = None, name: str = "") -> str:
    """The numbers as a two-column table: a readable name (the JSON key below it, small) and the value."""
    labels = labels or {}
    rows = "".join(
        f'<tr><td class="k">{escape(labels.get(k, readable(k)))}<br><code>{escape(k)}</code></td>'
        f'<td class="v">{_cell(v, name)}</td></tr>' for k, v in numbers.items())
    return f"<table><tr><th>quantity</th><th>value</th></tr>{rows}</table>"


def extra_table(table: dict[str, Any]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table["columns"])
    rows = "".join("<tr>" + "".join(f'<td class="v">{escape(fmt(x))}</td>' for x in row) + "</tr>"
                   for row in table["rows"])
    return f'<table><caption>{escape(table["caption"])}</caption><tr>{head}</tr>{rows}</table>'


def read_records(out: str | Path) -> dict[str, dict[str, Any]]:
    """The topics computed in ``out`` (their NAME.json records), in the order of ``TOPICS``; files that are not
    a topic's record are skipped."""
    from ganforge.explain import TOPICS

    out = Path(out)
    records = {}
    for name in TOPICS:
        path = out / f"{name}.json"
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("topic") == name and isinstance(rec.get("numbers"), dict):
            records[name] = rec
    return records


def write_page(out: str | Path) -> Path:
    """Write ``out/index.html`` for every topic computed in ``out`` and return its path."""
    from ganforge.explain import TOPICS

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records = read_records(out)
    fast = sum(bool(r.get("fast")) for r in records.values())
    mode = ("" if not fast else " (fast mode: short trainings, noisier numbers)" if fast == len(records)
            else f" ({fast} of them in fast mode: short trainings, noisier numbers)")
    total = sum(float(r.get("seconds", 0.0)) for r in records.values())
    parts = ["<h1>GANs, computed: a lecture companion</h1>",
             f'<p class="summary">{len(records)} topic{"s" * (len(records) != 1)}, computed in {total:.0f} s on '
             f"this machine{escape(mode)}. Every figure below is drawn from numbers computed by ganforge's own "
             "losses, metrics, networks and training loop; the table under each figure holds them, and the command "
             "under it recomputes them.</p>",
             "<nav><ol>" + "".join(f'<li><a href="#{escape(n)}">{escape(TOPICS[n].title)}</a></li>'
                                   for n in records) + "</ol></nav>"]
    for i, (name, r) in enumerate(records.items(), 1):
        t = TOPICS[name]
        notes = "".join(f'<p class="note">{escape(str(n))}</p>' for n in r.get("notes", []))
        png = out / f"{name}.png"
        img = (f'<img src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode("ascii")}" '
               f'alt="{escape(name)}: {escape(t.title)}">' if png.is_file() else "<p>(figure missing)</p>")
        tables = "".join(extra_table(x) for x in r.get("tables", []))
        shown = {k for x in r.get("tables", []) for k in x.get("shows", [])}  # laid out by a table below
        numbers = {k: v for k, v in r["numbers"].items() if k not in shown}
        parts.append(
            f'<section class="topic" id="{escape(name)}"><h2>{i}. {escape(t.title)}</h2>'
            f"<p>{escape(t.text)}</p>{notes}"
            f"<figure>{img}<figcaption>{escape(str(r.get('summary', '')))}</figcaption></figure>"
            f"<h3>The numbers</h3>{numbers_table(numbers, r.get('labels'), name)}{tables}"
            f"<h3>Reproduce and extend</h3><pre>{escape(str(r.get('command', '')))}\n{escape(t.extend)}</pre>"
            f'<p class="prov">computed in {float(r.get("seconds", 0.0)):.1f} s{" (fast mode)" * bool(r.get("fast"))}'
            f"; all numbers in {escape(name)}.json</p></section>")
    html = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>ganforge lecture companion'
            f"</title><style>{_PAGE_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    path = out / "index.html"
    path.write_text(html, encoding="utf-8")
    return path

"""The lecture companion page: one offline HTML file with every topic.

    from ganforge.explain.page import write_page
    write_page("explain/", {"divergences": result, ...})     # -> explain/index.html

Per topic: the title, a paragraph, the figure embedded as a base64 PNG, the numbers as a table (long series
are left to the topic's JSON file beside the page), the command that reproduces it and one that extends it.
Styles and the number format are the run report's (``ganforge.viz.report``); nothing is fetched from a network.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any

from ganforge.explain.common import TopicResult
from ganforge.viz.report import _CSS, format_value

MAX_INLINE = 8  # lists up to this long are shown in the table; longer ones live in NAME.json

_PAGE_CSS = _CSS + (".topic{border-top:1px solid #ddd;margin-top:2em}.note{background:#fff8e0;padding:.5em .8em;"
                    "border-left:3px solid #e0b000}td.v{text-align:left;font-family:monospace;font-size:.85em}"
                    "nav li{margin:.15em 0}")


def _cell(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_cell(x)}" for k, x in v.items())
    if isinstance(v, list):
        if v and isinstance(v[0], list):
            return "<br>".join("[" + ", ".join(format_value(x) for x in row) + "]" for row in v)
        if len(v) > MAX_INLINE:
            return f"(series of {len(v)} values, in the JSON file)"
        return "[" + ", ".join(format_value(x) if not isinstance(x, str) else escape(x) for x in v) + "]"
    if isinstance(v, str):
        return escape(v)
    return escape(format_value(v))


def numbers_table(numbers: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{escape(k)}</td><td class=\"v\">{_cell(v)}</td></tr>" for k, v in numbers.items())
    return f"<table><tr><th>quantity</th><th>value</th></tr>{rows}</table>"


def figure_png(result: TopicResult) -> str:
    buf = io.BytesIO()
    result.figure.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_page(out: str | Path, results: dict[str, TopicResult], *, fast: bool = False,
               run_dir: str | Path | None = None) -> Path:
    """Write ``out/index.html`` for the computed ``results`` (topic name -> result) and return its path."""
    from ganforge.explain import TOPICS, command_for

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mode = " (fast mode: short trainings, noisier numbers)" if fast else ""
    total = sum(r.seconds for r in results.values())
    parts = ["<h1>GANs, computed: a lecture companion</h1>",
             f'<p class="summary">{len(results)} topics, computed in {total:.0f} s on this machine{escape(mode)}. '
             "Every figure below is drawn from numbers computed by ganforge's own losses, metrics, networks and "
             "training loop; the table under each figure holds them, and the command under it recomputes them.</p>",
             "<nav><ol>" + "".join(f'<li><a href="#{escape(n)}">{escape(TOPICS[n].title)}</a></li>'
                                   for n in results) + "</ol></nav>"]
    for i, (name, r) in enumerate(results.items(), 1):
        t = TOPICS[name]
        notes = "".join(f'<p class="note">{escape(n)}</p>' for n in r.notes)
        parts.append(
            f'<section class="topic" id="{escape(name)}"><h2>{i}. {escape(t.title)}</h2>'
            f"<p>{escape(t.text)}</p>{notes}"
            f'<figure><img src="data:image/png;base64,{figure_png(r)}" alt="{escape(name)}">'
            f"<figcaption>{escape(r.summary)}</figcaption></figure>"
            f"<h3>The numbers</h3>{numbers_table(r.numbers)}"
            f"<h3>Reproduce and extend</h3><pre>{escape(command_for(name, fast, run_dir))}\n{escape(t.extend)}</pre>"
            f'<p class="prov">computed in {r.seconds:.1f} s; all numbers in {escape(name)}.json</p></section>')
    html = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>ganforge lecture companion'
            f"</title><style>{_PAGE_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    path = out / "index.html"
    path.write_text(html, encoding="utf-8")
    return path

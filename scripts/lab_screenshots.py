"""Take the lab's screenshots for the README and docs/lab.md: docs/images/lab*.png (headless Debian chromium).

    python scripts/lab_screenshots.py [--out docs/images] [--seconds 5] [--chromium /usr/bin/chromium]

Starts the lab on a free port, trains ring8 for a few seconds, pauses and takes: the page as it
opens on a run (``lab.png``, the README's picture), the model graph with D's box lit
(``lab-graph.png``), step by step at "classify" (``lab-step.png``), the gradient-arrows sub-step
(``lab-gradient.png``) and the gallery's 2-D view of the saved run (``lab-gallery.png``); each a
palette PNG (small enough for the repository). Never downloads a browser.
"""

from __future__ import annotations

import argparse
import io
import socket
import tempfile
import threading
import time
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def save(png: bytes, path: Path, colors: int = 96) -> None:
    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=colors).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/images"))
    p.add_argument("--seconds", type=float, default=5.0, help="seconds of training before the pictures")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()

    import torch
    import uvicorn
    from playwright.sync_api import sync_playwright

    from ganforge.lab import create_app

    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        server = uvicorn.Server(uvicorn.Config(create_app(tmp), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1240, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => window.lab && lab.frame && document.querySelector('#sub-noise')")
            page.click("#play")
            time.sleep(args.seconds)
            page.click("#play")
            page.wait_for_function("() => !lab.playing && document.querySelector('#metrics').innerText.length > 0")
            time.sleep(0.5)
            live = {"x": 0, "y": 40, "width": 1240, "height": 960}
            save(page.screenshot(clip={"x": 0, "y": 0, "width": 1240, "height": 760}), args.out / "lab.png", colors=128)
            page.hover("#box-D")
            time.sleep(0.2)
            save(page.screenshot(clip={"x": 250, "y": 40, "width": 580, "height": 780}), args.out / "lab-graph.png")
            page.mouse.move(5, 5)
            for name in ("noise", "generate", "classify"):
                page.click(f"#sub-{name}")
                page.wait_for_function(f"() => lab.frame.header.substep && lab.frame.header.substep.name === '{name}'")
            time.sleep(0.3)
            save(page.screenshot(clip=live), args.out / "lab-step.png", colors=64)
            page.click("#sub-g_grad")
            page.wait_for_function("() => lab.frame.header.substep && lab.frame.header.substep.name === 'g_grad'")
            time.sleep(0.3)
            save(page.screenshot(clip={"x": 0, "y": 40, "width": 830, "height": 900}), args.out / "lab-gradient.png",
                 colors=64)
            page.click("#sub-g_update")
            page.fill("#save-name", "ring8-lab")
            page.click("#save")
            page.wait_for_function("() => document.querySelector('#message').innerText.includes('saved')")
            page.goto(f"http://127.0.0.1:{port}/#run=ring8-lab")
            page.wait_for_function("() => lab.gallery && lab.gallery.name === 'ring8-lab'")
            time.sleep(0.3)
            save(page.screenshot(full_page=True), args.out / "lab-gallery.png", colors=64)
            browser.close()
        server.should_exit = True


if __name__ == "__main__":
    main()

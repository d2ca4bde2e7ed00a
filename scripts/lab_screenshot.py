"""Take the README's screenshot of the lab: docs/images/lab.png (headless Debian chromium, never downloaded).

    python scripts/lab_screenshot.py [--out docs/images/lab.png] [--seconds 8]

Starts the lab on a free port, lets ring8 train for a few seconds,
pauses, and saves the page as a palette PNG (small enough for the repository).
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/images/lab.png"))
    p.add_argument("--seconds", type=float, default=8.0, help="seconds of training before the picture")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()

    import torch
    import uvicorn
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from ganforge.lab import create_app

    torch.set_num_threads(1)
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
            page = browser.new_page(viewport={"width": 1180, "height": 700})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => window.lab && lab.frame")
            page.click("#play")
            time.sleep(args.seconds)
            page.click("#play")
            page.wait_for_function("() => !lab.playing && document.querySelector('#metrics').innerText.length > 0")
            time.sleep(0.5)
            png = page.screenshot(full_page=False)
            browser.close()
        server.should_exit = True
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    img.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

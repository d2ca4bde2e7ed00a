"""Benchmark: frames and training steps per second of the lab's live view, driven over its WebSocket.

    python benchmarks/lab.py                  # every setting, 6 s each; ~1 min
    python benchmarks/lab.py --seconds 3 --only default

Starts the lab with uvicorn on a free port in this process (as ``ganforge lab`` does: one torch
thread per session), connects with the ``websockets`` client like a browser tab, applies each
setting, presses Play and counts the frames (512 real + 512 fake points, arrows, a 48 x 48 heat
map, the manifold; metrics about once a second) and training steps that arrive. The page's cap of
30 frames/s is lifted here (``max_fps``) to measure what the server can do. Prints a table and
writes ``benchmarks/results/lab.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "lab.json"

# name -> settings sent before Play (the rest: ring8's preset, LSGAN + minibatch-std, G 3x128, D 2x128, batch 256)
SETTINGS: dict[str, dict] = {
    "default, 1 step/frame": {"speed": 1},
    "default, 5 steps/frame": {"speed": 5},
    "default, 20 steps/frame": {"speed": 20},
    "wgan-gp k=5, 1 step/frame": {"loss": "wgan-gp", "speed": 1},
    "grid25, ns, 5 steps/frame": {"distribution": "grid25", "loss": "ns", "speed": 5},
    "G/D 4x256, 2 steps/frame": {"g_width": 256, "g_depth": 4, "d_width": 256, "d_depth": 4, "speed": 2},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure(url: str, settings: dict, seconds: float) -> dict:
    import websockets

    from ganforge.lab.session import decode_frame

    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # hello
        await ws.recv()  # the frame at step 0
        await ws.send(json.dumps({"type": "settings", "values": settings}))
        while True:  # until the state after the settings (a restart sends a frame first)
            msg = await ws.recv()
            if isinstance(msg, str) and json.loads(msg)["type"] in ("state", "error"):
                if json.loads(msg)["type"] == "error":
                    raise RuntimeError(json.loads(msg)["message"])
                break
        await ws.send(json.dumps({"type": "play"}))
        frames, nbytes, t0, step0, warm = 0, 0, None, 0, 3
        while True:
            msg = await ws.recv()
            if isinstance(msg, str):
                continue
            header, arrays = decode_frame(msg)
            if warm:  # the first frames include one-off costs (imports, the first metrics)
                warm -= 1
                if not warm:
                    t0, step0 = time.perf_counter(), header["step"]
                continue
            frames += 1
            nbytes += len(msg)
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        await ws.send(json.dumps({"type": "pause"}))
    points = len(arrays["fake"]) // 2
    return {"frames_per_s": frames / elapsed, "steps_per_s": (header["step"] - step0) / elapsed,
            "kb_per_frame": nbytes / frames / 1024, "points": points, "seconds": elapsed}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0, help="measured seconds per setting")
    p.add_argument("--only", nargs="*", default=None, help="settings whose name starts with one of these")
    args = p.parse_args()

    import torch
    import uvicorn

    from ganforge.lab import create_app
    from ganforge.lab.server import WS_MAX_SIZE

    torch.set_num_threads(1)  # as `ganforge lab` does
    torch.set_flush_denormal(True)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = uvicorn.Server(uvicorn.Config(create_app(tmp, max_fps=1000.0), host="127.0.0.1", port=port,
                                               log_level="warning", ws_max_size=WS_MAX_SIZE))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        rows = []
        for name, settings in SETTINGS.items():
            if args.only and not any(name.startswith(o) for o in args.only):
                continue
            r = asyncio.run(measure(f"ws://127.0.0.1:{port}/ws", settings, args.seconds))
            rows.append({"setting": name, "values": settings, **r})
            print(f"  {name}: {r['frames_per_s']:.1f} frames/s, {r['steps_per_s']:.0f} steps/s", file=sys.stderr)
        server.should_exit = True
        thread.join(10)

    head = f"{'setting':<28} {'frames/s':>9} {'steps/s':>8} {'KB/frame':>9} {'points':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['setting']:<28} {r['frames_per_s']:>9.1f} {r['steps_per_s']:>8.0f} {r['kb_per_frame']:>9.1f} "
              f"{r['points']:>7}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                      "torch_threads": 1, "loadavg_after": load},
        "seconds_per_setting": args.seconds, "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()

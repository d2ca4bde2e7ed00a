"""The lab's web app (FastAPI): the page, one live training session per WebSocket, and the gallery API.

    ganforge lab --runs runs                   # serve() on http://127.0.0.1:8000, opens a browser
    app = create_app("runs", max_sessions=4)   # for tests: starlette.testclient.TestClient(app)

Routes:
    GET /, /static/{app.js,style.css}        the page (three fixed files shipped in the package)
    WS  /ws                                   a live session; JSON commands in, binary frames out
    GET /api/runs                             run folders under the gallery root and their views
    GET /api/runs/{name}/scatter              2-D runs: real and generated points, D's surface (JSON)
    GET /api/runs/{name}/grid.png             image runs: a sample grid (one row per class when conditional)
    GET /api/runs/{name}/interpolate.png      image runs: step t of latent walks (slerp)

WebSocket commands (JSON text, at most MAX_MESSAGE bytes): ``{"type": "play" | "pause" | "step" |
"reset" | "ping"}``, ``{"type": "settings", "values": {...}}``, ``{"type": "points", "points":
[[x, y], ...]}``, ``{"type": "save", "name": "..."}``. Replies: ``hello`` (controls, bounds and
current settings), ``state``, ``error`` (a message for the user), ``saved``, ``pong`` as JSON
text; frames as binary (``session.encode_frame``).

Hardening: serve() binds 127.0.0.1 unless told otherwise and warns when it is not; a WebSocket
from another web site (its Origin is not this server) is refused; messages over MAX_MESSAGE
bytes, unknown commands and values outside ``session.SETTINGS`` are refused with a message;
at most ``max_sessions`` sessions train at once, each bounded by the settings' limits; the
gallery answers only for folders directly under its root; nothing a client sends is executed
or unpickled (JSON only; checkpoints are read with ``weights_only=True``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ganforge.errors import GanforgeError
from ganforge.lab.gallery import Gallery, GalleryError, views
from ganforge.lab.session import LabError, LabSession, schema

MAX_MESSAGE = 64 * 1024  # bytes of one WebSocket message the app reads (drawn points fit easily)
WS_MAX_SIZE = 1024 * 1024  # uvicorn drops the connection above this, before the app sees the message
MAX_QUEUE = 32  # commands waiting for the session
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
COMMANDS = ("play", "pause", "step", "reset", "ping", "settings", "points", "save")
INTERP_STEPS = 12  # positions of the interpolation slider


def _static(name: str) -> str:
    return (resources.files("ganforge.lab") / "static" / name).read_text()


def _origin_ok(ws: WebSocket) -> bool:
    """A browser sends Origin; it must be this server (a page on another site may not drive a session)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser (tests, the benchmark)
    return urlsplit(origin).netloc == ws.headers.get("host", "")


def _png(img: Any) -> Response:
    """A (C, H, W) float tensor in [0, 1] as a PNG response."""
    from torchvision.utils import save_image

    buf = io.BytesIO()
    save_image(img, buf, format="png")
    return Response(buf.getvalue(), media_type="image/png")


def create_app(runs_dir: str | Path = "runs", *, max_sessions: int = 4, max_fps: float = 30.0,
               device: str = "cpu") -> FastAPI:
    """The lab app.

    Args:
        runs_dir: the gallery's root; "save run" writes new run folders there too.
        max_sessions: live training sessions at once (one per open tab); more are refused with a message.
        max_fps: frames per second a playing session sends at most.
        device: where live sessions train.
    """
    app = FastAPI(title="ganforge lab", docs_url=None, redoc_url=None, openapi_url=None)
    gallery = Gallery(runs_dir)
    app.state.gallery = gallery
    app.state.sessions = 0

    # ---------------------------------------------------------------- the page

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(_static("index.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return JSONResponse({"error": f"no static file {name!r}"}, status_code=404)
        return Response(_static(name), media_type=STATIC[name])

    # ---------------------------------------------------------------- gallery

    @app.exception_handler(GanforgeError)
    async def refused(request: Any, exc: GanforgeError) -> JSONResponse:
        status = exc.status if isinstance(exc, GalleryError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"root": str(gallery.root), "runs": gallery.list()}

    @app.get("/api/runs/{name}/scatter")
    def scatter(name: str, n: int = Query(1000, ge=10, le=5000), seed: int = Query(0, ge=0, le=2**31 - 1),
                res: int = Query(48, ge=8, le=128)) -> dict[str, Any]:
        from ganforge.viz import decision_surface, toy_bounds

        run = gallery.open(name)
        if "scatter" not in views(run.config):
            raise GalleryError(f"run {name!r} is an image run: it has no scatter plot", status=400)
        real, fake = run.real(n, seed=seed + 1), run.sample(n, seed=seed)
        bounds = toy_bounds(real, fake)
        _, _, heat = decision_surface(run.score, bounds, res=res)
        r3 = lambda a: np.round(np.asarray(a, dtype=np.float64), 4).tolist()  # noqa: E731
        return {"name": name, "step": run.step, "loss": run.config.loss.name, "bounds": list(bounds), "real": r3(real),
                "fake": r3(fake), "heat": r3(np.nan_to_num(heat)), "res": res,
                "prob": run.config.loss.name in ("minimax", "ns")}

    @app.get("/api/runs/{name}/grid.png")
    def grid(name: str, n: int = Query(64, ge=1, le=256), seed: int = Query(0, ge=0, le=2**31 - 1),
             cls: int | None = Query(None, ge=0, le=10_000)) -> Response:
        run = gallery.open(name)
        if "grid" not in views(run.config):
            raise GalleryError(f"run {name!r} is a 2-D run: use its scatter plot", status=400)
        return _png(run.grid(n, seed=seed, labels=cls))

    @app.get("/api/runs/{name}/interpolate.png")
    def interpolate(name: str, t: int = Query(0, ge=0, le=INTERP_STEPS - 1), rows: int = Query(6, ge=1, le=16),
                    seed: int = Query(0, ge=0, le=2**31 - 1), cls: int | None = Query(None, ge=0, le=10_000)
                    ) -> Response:
        from torchvision.utils import make_grid

        run = gallery.open(name)
        if "interpolate" not in views(run.config):
            raise GalleryError(f"run {name!r} is a 2-D run: it has no latent walk", status=400)
        x = run.interpolate(rows=rows, steps=INTERP_STEPS, method="slerp", seed=seed, labels=cls)  # (R, S, C, H, W)
        return _png(make_grid((x[:, t] + 1) / 2, nrow=rows, padding=2, pad_value=1.0))

    @app.get("/api/runs/{name}/triptychs.png")
    def triptychs(name: str, n: int = Query(8, ge=1, le=32)) -> Response:
        from torchvision.utils import make_grid

        run = gallery.open(name)
        if "triptychs" not in views(run.config):
            raise GalleryError(f"run {name!r} is not a translation run: it has no triptychs", status=400)
        t = run.triptychs(n)  # (n, 3, C, S, S) in [-1, 1]
        return _png(make_grid((t.flatten(0, 1) + 1) / 2, nrow=3, padding=2, pad_value=1.0))

    @app.get("/api/runs/{name}/mix.png")
    def mix(name: str, layers: str = Query("coarse", pattern="^(coarse|middle|fine)$"),
            seed: int = Query(0, ge=0, le=2**31 - 1)) -> Response:
        from torchvision.utils import make_grid

        run = gallery.open(name)
        if "mix" not in views(run.config):
            raise GalleryError(f"run {name!r} is not a StyleGAN run: it has no style mixing", status=400)
        x = run.mix(rows=4, cols=4, layers=layers, seed=seed)  # (5, 5, C, H, W) in [-1, 1]
        return _png(make_grid((x.flatten(0, 1) + 1) / 2, nrow=x.shape[1], padding=2, pad_value=1.0))

    # ---------------------------------------------------------------- live sessions

    @app.websocket("/ws")
    async def live(ws: WebSocket) -> None:
        await ws.accept()
        if not _origin_ok(ws):
            await ws.send_json({"type": "error", "message": "refused: this page is not served by the lab"})
            await ws.close(code=1008)
            return
        if app.state.sessions >= max_sessions:
            await ws.send_json({"type": "error", "message": (
                f"the lab already runs {max_sessions} training sessions (its limit, --max-sessions); "
                "close another lab tab and reload this one")})
            await ws.close(code=1013)
            return
        app.state.sessions += 1
        session: LabSession | None = None
        try:
            session = await asyncio.to_thread(LabSession, None, device)
            await ws.send_json({"type": "hello", "schema": schema(), "settings": session.current(),
                                "runs": str(gallery.root), "max_message": MAX_MESSAGE})
            await ws.send_bytes(await asyncio.to_thread(session.frame, True))
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
            tasks = [asyncio.create_task(_receive(ws, queue)),
                     asyncio.create_task(_drive(ws, session, queue, gallery, max_fps))]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in pending:  # a closed tab ends the receiver: the driver stops training here
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await t
            for t in done:
                if not t.cancelled() and t.exception() and not isinstance(t.exception(), WebSocketDisconnect):
                    raise t.exception()  # type: ignore[misc]
        except WebSocketDisconnect:
            pass
        finally:
            app.state.sessions -= 1
            if session is not None:
                session.close()

    return app


def parse_command(text: str | None, data: bytes | None) -> dict[str, Any]:
    """A client message as a command dict; LabError for anything else. JSON only: nothing is executed."""
    if data is not None:
        raise LabError("binary messages are not accepted; send JSON text")
    if text is None:
        raise LabError("empty message")
    if len(text.encode()) > MAX_MESSAGE:
        raise LabError(f"message refused: {len(text.encode())} bytes is over the limit of {MAX_MESSAGE}")
    try:
        cmd = json.loads(text)
    except ValueError:
        raise LabError("messages must be JSON, e.g. {\"type\": \"play\"}") from None
    if not isinstance(cmd, dict) or cmd.get("type") not in COMMANDS:
        kind = cmd.get("type") if isinstance(cmd, dict) else cmd
        raise LabError(f"unknown command {str(kind)[:40]!r}; known: {', '.join(COMMANDS)}")
    return cmd


async def _receive(ws: WebSocket, queue: asyncio.Queue[dict[str, Any]]) -> None:
    """Read client messages into the queue; refusals go in as errors for the driver to send."""
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        try:
            cmd = parse_command(msg.get("text"), msg.get("bytes"))
            if queue.qsize() >= MAX_QUEUE:
                raise LabError("too many commands waiting; slow down")
        except LabError as e:
            cmd = {"type": "error", "message": str(e)}
        queue.put_nowait(cmd)


async def _drive(ws: WebSocket, session: LabSession, queue: asyncio.Queue[dict[str, Any]], gallery: Gallery,
                 max_fps: float) -> None:
    """Apply commands between frames and, while playing, train and send frames. The only sender."""
    playing = False

    async def state() -> None:
        await ws.send_json({"type": "state", "playing": playing, "step": session.step, "settings": session.current()})

    while True:
        cmds = [] if playing else [await queue.get()]
        while not queue.empty():
            cmds.append(queue.get_nowait())
        for cmd in cmds:
            kind = cmd["type"]
            try:
                if kind == "error":
                    await ws.send_json(cmd)
                elif kind == "ping":
                    await ws.send_json({"type": "pong", "step": session.step, "playing": playing})
                elif kind in ("play", "pause"):
                    playing = kind == "play" and not session.diverged
                    await state()
                elif kind == "step":
                    playing = False
                    await ws.send_bytes(await asyncio.to_thread(session.advance, 1, True))
                    await state()
                elif kind == "reset":
                    await asyncio.to_thread(session.build)
                    await ws.send_bytes(await asyncio.to_thread(session.frame, True))
                    await state()
                elif kind == "settings":
                    restarted = await asyncio.to_thread(session.apply, cmd.get("values"))
                    if restarted:
                        await ws.send_bytes(await asyncio.to_thread(session.frame, True))
                    await state()
                elif kind == "points":
                    await asyncio.to_thread(session.set_points, cmd.get("points"))
                    await ws.send_bytes(await asyncio.to_thread(session.frame, True))
                    await state()
                elif kind == "save":
                    name = cmd.get("name") or time.strftime("lab-%Y%m%d-%H%M%S")
                    run_dir = gallery.root / gallery.check_name(name)
                    await asyncio.to_thread(session.save, run_dir)
                    await ws.send_json({"type": "saved", "name": name, "path": str(run_dir), "step": session.step})
            except GanforgeError as e:  # a refused value, a bad combination, an existing run folder
                await ws.send_json({"type": "error", "message": str(e)})
                if kind in ("settings", "points"):
                    await state()  # the page puts its controls back to the values in force
        if playing:
            t0 = time.perf_counter()
            await ws.send_bytes(await asyncio.to_thread(session.advance, session.speed))
            if session.diverged:
                playing = False
                await ws.send_json({"type": "error", "message": session.diverged})
                await state()
            await asyncio.sleep(max(0.0, 1.0 / max_fps - (time.perf_counter() - t0)))


def serve(host: str = "127.0.0.1", port: int = 8000, runs_dir: str | Path = "runs", open_browser: bool = True,
          max_sessions: int = 4) -> None:
    """Run the lab with uvicorn until Ctrl-C."""
    import threading
    import webbrowser

    import torch
    import uvicorn

    torch.set_num_threads(1)  # small MLPs: one thread per session is fastest, and sessions share the cores
    torch.set_flush_denormal(True)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    print(f"ganforge lab: {url}  (gallery: {Path(runs_dir).expanduser().resolve()}; Ctrl-C stops it)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: bound to {host}, not 127.0.0.1: other machines that can reach this one can open the lab, "
              "train models on it and save runs into the gallery folder")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(create_app(runs_dir, max_sessions=max_sessions), host=host, port=port, log_level="warning",
                ws_max_size=WS_MAX_SIZE)

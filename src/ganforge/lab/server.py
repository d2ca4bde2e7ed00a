"""The lab's web app (FastAPI): the page, one live training session per WebSocket, and the gallery API.

    ganforge lab --runs runs                   # serve() on http://127.0.0.1:8000, opens a browser
    app = create_app("runs", max_sessions=4)   # answers Host 127.0.0.1 / localhost / [::1] on the port it is served on
    TestClient(create_app("runs", port=8765), base_url="http://127.0.0.1:8765")   # tests: the Host it answers

Routes:
    GET /, /static/{app.js,style.css}        the page (three fixed files shipped in the package)
    WS  /ws                                   a live session; JSON commands in, binary frames out
    GET /api/runs                             run folders under the gallery root and their views
    GET /api/runs/{name}/scatter              2-D runs: real and generated points, D's surface (JSON)
    GET /api/runs/{name}/grid.png             image runs: a sample grid (one row per class when conditional)
    GET /api/runs/{name}/interpolate.png      image runs: step t of latent walks (slerp)

WebSocket commands (JSON text, at most MAX_MESSAGE bytes): ``{"type": "play" | "pause" | "step" |
"reset" | "ping"}``, ``{"type": "substep", "name": optional}`` (Algorithm 1 one sub-step at a
time, ``session.SUBSTEPS``; the page's slow motion sends these with pauses), ``{"type":
"settings", "values": {...}}``, ``{"type": "points", "points": [[x, y], ...]}``, ``{"type":
"save", "name": "..."}``. Replies: ``hello`` (controls, bounds, current settings, the sub-steps),
``state`` (``applied``: true after settings that were accepted, so the page clears an earlier
refusal), ``error`` (a message for the user), ``saved``, ``pong`` as JSON text; frames as
binary (``session.encode_frame``).

Hardening: serve() binds 127.0.0.1 unless told otherwise and warns when it is not. Every HTTP
request and WebSocket handshake must name the address the server is bound to (:class:`AddressGuard`,
against DNS rebinding and other sites' pages): its Host header, and its Origin header when it has
one, must be one of :func:`allowed_names` with the server's port; other requests get 403 with a
one-line text message, other WebSockets are closed (1008) before the app sees them, so no session
starts. Messages over MAX_MESSAGE
bytes, unknown commands and values outside ``session.SETTINGS`` are refused with a message;
at most ``max_sessions`` sessions train at once, each bounded by the settings' limits; the
gallery answers only for folders directly under its root; nothing a client sends is executed
or unpickled (JSON only; checkpoints are read with ``weights_only=True``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import json
import re
import socket
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ganforge.errors import GanforgeError
from ganforge.lab.gallery import Gallery, GalleryError, views
from ganforge.lab.session import SUBSTEPS, LabError, LabSession, schema
from ganforge.metrics.divergences import PSEUDO_COUNT

MAX_MESSAGE = 64 * 1024  # bytes of one WebSocket message the app reads (drawn points fit easily)
WS_MAX_SIZE = 1024 * 1024  # uvicorn drops the connection above this, before the app sees the message
MAX_QUEUE = 32  # commands waiting for the session
STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
COMMANDS = ("play", "pause", "step", "substep", "reset", "ping", "settings", "points", "save")
INTERP_STEPS = 12  # positions of the interpolation slider
MAX_TEXT = 200  # characters of a caption typed in the gallery
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # the names of the default bind, all accepted for any loopback bind
WILDCARD = ("0.0.0.0", "::", "")  # every interface: the loopback names and this machine's hostname
_ORIGIN = re.compile(r"^(https?)://([^/?#@\s]+)$", re.IGNORECASE)


def _static(name: str) -> str:
    return (resources.files("ganforge.lab") / "static" / name).read_text()


def _name(name: str) -> str:
    """A host name or address as compared: lower case, IP addresses in canonical form (IPv4-mapped as IPv4)."""
    name = name.strip().lower()
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return name
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def allowed_names(host: str) -> frozenset[str]:
    """The names a Host or Origin may use for a server bound to ``host`` (``serve``'s ``--host``).

    A loopback bind (127.0.0.1, localhost, ::1): 127.0.0.1, localhost and ::1 (``[::1]`` in a URL).
    Every interface (0.0.0.0, ::): those and this machine's hostname. Any other: that name or address only.
    (The guard also accepts the IP address a connection arrived on, written as an address.)
    """
    h = _name(host.strip("[]"))
    if h in WILDCARD:
        return frozenset({*LOOPBACK, _name(socket.gethostname())})
    if h in LOOPBACK:
        return frozenset(LOOPBACK)
    return frozenset({h})


def split_host(value: str, default_port: int) -> tuple[str, int] | None:
    """A Host header or an Origin's authority (``name:port``, ``[v6]:port``) as (name, port); None if malformed."""
    if not value or any(c.isspace() or c in "/?#@\\" for c in value):
        return None
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[1:end], value[end + 1:]
        if end < 0 or not _is_ipv6(name):
            return None
    else:
        name, sep, port = value.partition(":")
        rest = sep + port
        if ":" in port or not name:
            return None
    if not rest:
        return _name(name), default_port
    if not re.fullmatch(r":[0-9]{1,5}", rest) or not 0 < int(rest[1:]) < 65536:
        return None
    return _name(name), int(rest[1:])


def _is_ipv6(name: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(name), ipaddress.IPv6Address)
    except ValueError:
        return False


class AddressGuard:
    """ASGI middleware: only requests that name the address the server is bound to reach the app.

    For HTTP and WebSocket alike, the Host header must be one of ``allowed_names(host)`` (or the IP
    address the connection arrived on) with the server's port, and an Origin header, when present,
    the same (``http://`` or ``https://``, no path). A page on another name (``evil.example:8765``
    resolving to 127.0.0.1: DNS rebinding), another port or another site is refused: HTTP with 403
    (400 without a Host header) and a one-line text body, a WebSocket closed with 1008 before it is
    accepted. A WebSocket without Origin (not a browser: tests, the benchmark) is let in.

    Args:
        host: the address the server is bound to (``serve``'s ``--host``).
        port: the port it is bound to; None: the port the request arrived on (the ASGI ``server``).
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.app = app
        self.names = allowed_names(host)
        self.port = port

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, message) for a request that does not name this server; None for one that does."""
        headers = Headers(scope=scope)
        server = scope.get("server") or (None, None)
        port = self.port or server[1]
        names = set(self.names)
        if server[0]:
            local = _name(str(server[0]))
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(local)
                names.add(local)  # http://192.168.1.5:8000/ when bound to 0.0.0.0: the address itself
        host_name = "127.0.0.1" if "127.0.0.1" in names else sorted(self.names)[0]
        url = f"http://{f'[{host_name}]' if ':' in host_name else host_name}{f':{port}' if port else ''}/"

        def ours(where: tuple[str, int] | None) -> bool:
            return where is not None and where[0] in names and (port is None or where[1] == port)

        host = headers.get("host")
        if host is None:
            return 400, "refused: the request has no Host header"
        default = 443 if scope.get("scheme") in ("https", "wss") else 80
        if not ours(split_host(host, default)):
            return 403, f"refused: Host {host[:100]!r} is not this lab's address; open {url}"
        origin = headers.get("origin")
        if origin is not None:
            m = _ORIGIN.match(origin)
            if not m or not ours(split_host(m.group(2), 443 if m.group(1).lower() == "https" else 80)):
                return 403, f"refused: Origin {origin[:100]!r} is not this lab's address; open {url}"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.refusal(scope)
        if refused is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            status, message = refused
            response = PlainTextResponse(message + "\n", status_code=status,
                                         headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
            await response(scope, receive, send)
        else:
            await receive()  # websocket.connect
            reason = refused[1].split(";")[0].encode()[:120].decode(errors="ignore")  # a close reason: <= 123 bytes
            await send({"type": "websocket.close", "code": 1008, "reason": reason})


def _curves(history: list[dict[str, Any]], run: Any, n: int, seed: int, points: int = 200) -> dict[str, Any]:
    """A run's logged curves (Loss/D, Loss/G, each Metric/*: at most ``points`` [step, value] pairs each) and
    the last finite value of each metric, for the gallery's 2-D view; a run that logged no metric gets them
    computed now (``quick_metrics`` on ``n`` samples), and ``metrics_source`` says which."""
    keys = ["Loss/D", "Loss/G"] + sorted({k for r in history for k in r if k.startswith("Metric/")})
    curves: dict[str, list[list[float]]] = {}
    last: dict[str, float] = {}
    for key in keys:
        pts = [[float(r["step"]), float(r[key])] for r in history
               if key in r and isinstance(r[key], (int, float)) and np.isfinite(r[key])]
        if pts:
            stride = max(1, -(-len(pts) // points))
            curves[key] = pts[::stride] if pts[::stride][-1] == pts[-1] else pts[::stride] + [pts[-1]]
            if key.startswith("Metric/"):
                last[key] = pts[-1][1]
    source = "logged"
    if not last:
        from ganforge.metrics.sampled import quick_metrics

        last, source = quick_metrics(run.sampler, n, seed=seed), "computed"
    return {"curves": curves, "metrics": last, "metrics_source": source}


def _text(run: Any, name: str, text: str | None) -> dict[str, str]:
    """``{"text": ...}`` for a text-to-image run given a caption (blank: none); a 400 for other runs."""
    if text is None or not text.strip():
        return {}
    if "text" not in views(run.config):
        raise GalleryError(f"run {name!r} is not a text-to-image run: it takes no caption", status=400)
    return {"text": text.strip()}


def _png(img: Any) -> Response:
    """A (C, H, W) float tensor in [0, 1] as a PNG response."""
    from ganforge.pixels import save_image

    buf = io.BytesIO()
    save_image(img, buf, format="png")
    return Response(buf.getvalue(), media_type="image/png")


def create_app(runs_dir: str | Path = "runs", *, max_sessions: int = 4, max_fps: float = 30.0,
               device: str = "cpu", host: str = "127.0.0.1", port: int | None = None) -> FastAPI:
    """The lab app.

    Args:
        runs_dir: the gallery's root; "save run" writes new run folders there too.
        max_sessions: live training sessions at once (one per open tab); more are refused with a message.
        max_fps: frames per second a playing session sends at most.
        device: where live sessions train.
        host: the address the app is served on: requests must name it (:func:`allowed_names`).
        port: the port it is served on; None: the port each request arrived on.
    """
    app = FastAPI(title="ganforge lab", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(AddressGuard, host=host, port=port)
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
                "prob": run.config.loss.name in ("minimax", "ns"), **_curves(run.history, run, n, seed)}

    @app.get("/api/runs/{name}/grid.png")
    def grid(name: str, n: int = Query(64, ge=1, le=256), seed: int = Query(0, ge=0, le=2**31 - 1),
             cls: int | None = Query(None, ge=0, le=10_000), text: str | None = Query(None, max_length=MAX_TEXT)
             ) -> Response:
        run = gallery.open(name)
        if "grid" not in views(run.config):
            raise GalleryError(f"run {name!r} is a 2-D run: use its scatter plot", status=400)
        return _png(run.grid(n, seed=seed, labels=cls, **_text(run, name, text)))

    @app.get("/api/runs/{name}/interpolate.png")
    def interpolate(name: str, t: int = Query(0, ge=0, le=INTERP_STEPS - 1), rows: int = Query(6, ge=1, le=16),
                    seed: int = Query(0, ge=0, le=2**31 - 1), cls: int | None = Query(None, ge=0, le=10_000),
                    text: str | None = Query(None, max_length=MAX_TEXT)) -> Response:
        from ganforge.pixels import make_grid

        run = gallery.open(name)
        if "interpolate" not in views(run.config):
            raise GalleryError(f"run {name!r} is a 2-D run: it has no latent walk", status=400)
        x = run.interpolate(rows=rows, steps=INTERP_STEPS, method="slerp", seed=seed, labels=cls,
                            **_text(run, name, text))  # (R, S, C, H, W)
        return _png(make_grid((x[:, t] + 1) / 2, nrow=rows, padding=2, pad_value=1.0))

    @app.get("/api/runs/{name}/triptychs.png")
    def triptychs(name: str, n: int = Query(8, ge=1, le=32)) -> Response:
        from ganforge.pixels import make_grid

        run = gallery.open(name)
        if "triptychs" not in views(run.config):
            raise GalleryError(f"run {name!r} is not a translation run: it has no triptychs", status=400)
        t = run.triptychs(n)  # (n, 3, C, S, S) in [-1, 1]
        return _png(make_grid((t.flatten(0, 1) + 1) / 2, nrow=3, padding=2, pad_value=1.0))

    @app.get("/api/runs/{name}/mix.png")
    def mix(name: str, layers: str = Query("coarse", pattern="^(coarse|middle|fine)$"),
            seed: int = Query(0, ge=0, le=2**31 - 1)) -> Response:
        from ganforge.pixels import make_grid

        run = gallery.open(name)
        if "mix" not in views(run.config):
            raise GalleryError(f"run {name!r} is not a StyleGAN run: it has no style mixing", status=400)
        x = run.mix(rows=4, cols=4, layers=layers, seed=seed)  # (5, 5, C, H, W) in [-1, 1]
        return _png(make_grid((x.flatten(0, 1) + 1) / 2, nrow=x.shape[1], padding=2, pad_value=1.0))

    # ---------------------------------------------------------------- live sessions

    @app.websocket("/ws")
    async def live(ws: WebSocket) -> None:
        await ws.accept()  # AddressGuard has checked Host and Origin: another site's page never gets here
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
                                "runs": str(gallery.root), "max_message": MAX_MESSAGE,
                                "substeps": {k: {"box": b, "label": lbl} for k, (b, lbl) in SUBSTEPS.items()},
                                "kl": {"alpha": PSEUDO_COUNT, "bins": session.cfg.eval.bins}})
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

    async def state(applied: bool = False) -> None:
        await ws.send_json({"type": "state", "playing": playing, "step": session.step, "settings": session.current(),
                            "cycle": session.cycle, "applied": applied})

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
                elif kind == "substep":
                    playing = False
                    name = cmd.get("name")
                    await ws.send_bytes(await asyncio.to_thread(session.substep, name if name is None else str(name)))
                    await state()
                elif kind == "reset":
                    await asyncio.to_thread(session.build)
                    await ws.send_bytes(await asyncio.to_thread(session.frame, True))
                    await state()
                elif kind == "settings":
                    restarted = await asyncio.to_thread(session.apply, cmd.get("values"))
                    if restarted:
                        await ws.send_bytes(await asyncio.to_thread(session.frame, True))
                    await state(applied=True)
                elif kind == "points":
                    await asyncio.to_thread(session.set_points, cmd.get("points"))
                    await ws.send_bytes(await asyncio.to_thread(session.frame, True))
                    await state(applied=True)
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
    shown = "127.0.0.1" if host in WILDCARD else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    print(f"ganforge lab: {url}  (gallery: {Path(runs_dir).expanduser().resolve()}; Ctrl-C stops it)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: bound to {host}, not 127.0.0.1: other machines that can reach this one can open the lab, "
              "train models on it and save runs into the gallery folder")
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    app = create_app(runs_dir, max_sessions=max_sessions, host=host, port=port)  # it answers only to host:port
    uvicorn.run(app, host=host, port=port, log_level="warning", ws_max_size=WS_MAX_SIZE)

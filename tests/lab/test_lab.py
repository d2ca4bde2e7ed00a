"""The lab server: the WebSocket protocol, its refusals and limits, the gallery's root, and saved runs.

Driven with Starlette's TestClient (no browser, no network); the browser test is test_lab_browser.py.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

warnings.filterwarnings("ignore", message=".*httpx.*")
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from ganforge.lab import create_app  # noqa: E402
from ganforge.lab.session import LabSession, decode_frame  # noqa: E402

SMALL = {"g_width": 32, "d_width": 32, "g_depth": 2, "d_depth": 2, "batch_size": 64, "speed": 2}
PORT = 8765  # the app answers only to the address it is served on: the client names 127.0.0.1:PORT
BASE, WS = f"http://127.0.0.1:{PORT}", f"ws://127.0.0.1:{PORT}/ws"


def own_runs(client) -> list[dict]:
    """The gallery's listing without the shipped pretrained models (listed after the user's runs)."""
    runs = client.get("/api/runs").json()["runs"]
    assert all(not r["pretrained"] for r in runs[:sum(not r["pretrained"] for r in runs)])
    return [r for r in runs if not r["pretrained"]]


def receive(ws):
    """The next message: ("frame", (header, arrays)) or ("json", dict)."""
    msg = ws.receive()
    if msg.get("bytes") is not None:
        return "frame", decode_frame(msg["bytes"])
    return "json", json.loads(msg["text"])


def until(ws, kind):
    """Messages up to the first JSON message of ``type`` kind; returns (it, frames seen before)."""
    frames = []
    for _ in range(200):
        what, m = receive(ws)
        if what == "frame":
            frames.append(m)
        elif m["type"] == kind:
            return m, frames
    raise AssertionError(f"no {kind!r} message")


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(tmp_path / "runs", max_sessions=2, port=PORT), base_url=BASE) as c:
        yield c


def open_session(client, settings=SMALL, **kw):
    ws = client.websocket_connect(WS, **kw).__enter__()
    hello = ws.receive_json()
    assert hello["type"] == "hello"
    _, first = receive(ws)  # the frame at step 0
    if settings:
        ws.send_json({"type": "settings", "values": settings})
        until(ws, "state")
    return ws, hello, first


def test_play_moves_fake_points_and_pause_stops_them(client):
    ws, hello, (h0, a0) = open_session(client)
    assert h0["step"] == 0 and a0["real"].shape == a0["fake"].shape == (1024,)  # 512 points x 2
    assert a0["heat"].shape == (h0["heat_res"] ** 2,) and np.isfinite(a0["arrows"]).all()
    assert h0["metrics"] and "Metric/w1" in h0["metrics"] and "Metric/modes" in h0["metrics"]  # ring8 has modes
    ws.send_json({"type": "play"})
    assert until(ws, "state")[0]["playing"] is True
    frames = [receive(ws)[1] for _ in range(12)]
    while not any(h["metrics"] for h, _ in frames[1:]):  # metrics come about once a second
        frames.append(receive(ws)[1])
    steps = [h["step"] for h, _ in frames]
    assert steps == sorted(steps) and steps[-1] > steps[0] > 0
    assert not np.allclose(frames[0][1]["fake"], frames[-1][1]["fake"])  # the generator moved its points
    assert not np.allclose(frames[0][1]["heat"], frames[-1][1]["heat"])  # and D's surface changed
    assert all("Loss/D" in h["losses"] and "Loss/G" in h["losses"] for h, _ in frames)
    with_metrics = [h["metrics"] for h, _ in frames if h["metrics"]]
    assert with_metrics[-1] != h0["metrics"] and len(with_metrics) < len(frames)  # updated, at a lower rate
    ws.send_json({"type": "pause"})
    state, _ = until(ws, "state")
    assert state["playing"] is False
    ws.send_json({"type": "ping"})
    what, pong = receive(ws)  # nothing between the pause and the pong: no frame, no training
    assert what == "json" and pong == {"type": "pong", "step": state["step"], "playing": False}
    ws.send_json({"type": "step"})
    what, (h, _) = receive(ws)
    assert what == "frame" and h["step"] == state["step"] + 1 and h["metrics"]
    ws.__exit__(None, None, None)


@pytest.mark.parametrize("values, words", [
    ({"lr_g": -0.001}, "lr_g must be between"),
    ({"g_width": 100000}, "g_width must be between"),
    ({"loss": "nope"}, "loss='nope' is not allowed"),
    ({"d_steps": 2.5}, "whole number"),
    ({"lr_d": "fast"}, "must be a number"),
    ({"widths": 3}, "unknown setting"),
    ({"batch_size": 12}, "multiple of 8"),
    ({"distribution": "draw"}, "draw some points"),
])
def test_bad_values_are_refused_with_a_message(client, values, words):
    ws, hello, _ = open_session(client, settings=None)
    before = hello["settings"]
    ws.send_json({"type": "settings", "values": values})
    err, frames = until(ws, "error")
    assert words in err["message"] and not frames
    state, _ = until(ws, "state")  # the page is told the values in force: nothing changed
    assert state["settings"] == before
    ws.__exit__(None, None, None)


def test_live_settings_keep_training_and_others_restart(client):
    ws, _, _ = open_session(client)
    ws.send_json({"type": "step"})
    until(ws, "state")
    ws.send_json({"type": "settings", "values": {"lr_d": 0.002, "d_steps": 3}})
    state, frames = until(ws, "state")
    assert state["step"] == 1 and not frames and state["settings"]["lr_d"] == 0.002  # no restart
    ws.send_json({"type": "settings", "values": {"loss": "wgan-gp", "z_dim": 1, "remedy": "pack"}})
    state, frames = until(ws, "state")
    (h, a), = frames
    assert state["step"] == h["step"] == 0 and h["manifold_shape"] == [128]  # rebuilt: z_dim 1 -> a curve
    assert a["manifold"].shape == (256,) and not h["prob"]  # the critic is not a probability
    ws.__exit__(None, None, None)


def test_malformed_and_oversize_messages_are_refused(client):
    ws, _, _ = open_session(client, settings=None)
    for text, words in [("x" * 70_000, "over the limit"), ("not json", "must be JSON"),
                        (json.dumps({"type": "exec", "code": "print(1)"}), "unknown command"),
                        (json.dumps([1, 2]), "unknown command")]:
        ws.send_text(text)
        err, _ = until(ws, "error")
        assert words in err["message"]
    ws.send_bytes(b"\x80\x04K\x01.")  # a pickle: never read
    assert "binary messages are not accepted" in until(ws, "error")[0]["message"]
    ws.send_json({"type": "points", "points": [[0, 0], [float("1e300"), 1]]})
    assert "within" in until(ws, "error")[0]["message"]
    ws.send_json({"type": "save", "name": "../outside"})
    assert "refused" in until(ws, "error")[0]["message"]
    ws.send_json({"type": "ping"})  # the session is still alive
    assert until(ws, "pong")[0]["type"] == "pong"
    ws.__exit__(None, None, None)


def test_session_cap_and_foreign_origin(client):
    a, _, _ = open_session(client, settings=None)
    b, _, _ = open_session(client, settings=None)
    with client.websocket_connect(WS) as c:
        msg = c.receive_json()
        assert msg["type"] == "error" and "2 training sessions" in msg["message"]
    a.__exit__(None, None, None)  # a closed tab frees its place
    with pytest.raises(WebSocketDisconnect) as refused:  # refused at the handshake (test_lab_origin.py has more)
        with client.websocket_connect(WS, headers={"origin": "http://evil.example"}):
            pass
    assert refused.value.code == 1008 and "Origin" in refused.value.reason
    d, hello, _ = open_session(client, settings=None)
    assert hello["type"] == "hello"
    b.__exit__(None, None, None)
    d.__exit__(None, None, None)


def test_gallery_refuses_paths_outside_its_root(client, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "config.yaml").write_text("loss: ns\n")
    root = tmp_path / "runs"
    root.mkdir()
    (root / "escape").symlink_to(secret)
    assert own_runs(client) == []
    for name in ["..%2Fsecret", "%2E%2E", ".hidden", "escape", "a%5Cb", "%2Fetc%2Fpasswd"]:
        for view in ("scatter", "grid.png", "interpolate.png"):
            r = client.get(f"/api/runs/{name}/{view}")
            assert r.status_code in (403, 404), (name, view, r.status_code)
            body = r.json()  # the gallery's refusal, or the router's "Not Found" for a path with "/" in the name
            assert any(w in body.get("error", "") for w in ("refused", "outside", "no run")) or body["detail"]
    assert client.get("/api/runs/escape/scatter").json()["error"].startswith("run 'escape' is outside")
    assert client.get("/static/..%2Fserver.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404  # only the listed files


def test_saved_run_loads_resumes_samples_and_evaluates(client, tmp_path):
    import ganforge
    from ganforge.cli import main

    ws, _, _ = open_session(client)
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal([-1, 0], 0.1, (60, 2)), rng.normal([1, 1], 0.1, (60, 2))]).round(3)
    ws.send_json({"type": "points", "points": pts.tolist()})
    state, ((h, a),) = until(ws, "state")
    assert state["settings"]["distribution"] == "draw" and h["step"] == 0
    assert a["real"].reshape(-1, 2).min(0)[0] < -0.5 and a["real"].reshape(-1, 2).max(0)[1] > 0.5  # drawn data
    ws.send_json({"type": "step"})
    until(ws, "state")
    ws.send_json({"type": "save", "name": "drawn"})
    saved, _ = until(ws, "saved")
    ws.send_json({"type": "save", "name": "drawn"})
    assert "already exists" in until(ws, "error")[0]["message"]
    ws.__exit__(None, None, None)
    run_dir = Path(saved["path"])
    assert run_dir == tmp_path / "runs" / "drawn" and (run_dir / "points.npy").is_file()

    run = ganforge.load_run(run_dir)
    assert run.step == 1 and run.config.model.g_width == 32 and run.config.data.name == "points"
    assert run.sample(10).shape == (10, 2) and len(run.history) == 1
    listed = own_runs(client)
    assert [(r["name"], r["kind"], r["views"], r["step"]) for r in listed] == [("drawn", "2d", ["scatter"], 1)]
    scatter = client.get("/api/runs/drawn/scatter?n=50").json()
    assert len(scatter["fake"]) == 50 and len(scatter["heat"]) == scatter["res"]
    assert client.get("/api/runs/drawn/grid.png").status_code == 400  # not an image run

    assert main(["resume", str(run_dir), "--set", "train.steps=4", "--set", "train.progress=false"]) == 0
    assert ganforge.load_run(run_dir).step == 4
    assert main(["sample", str(run_dir), "--n", "20", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (20, 2)
    assert main(["eval", str(run_dir), "--n", "100"]) == 0


def test_gallery_image_run_grid_interpolation_and_classes(client, tmp_path):
    from ganforge.loop import save_state
    from ganforge.recipes import gan, load_config, resolve
    from ganforge.runfolder import write_config

    cfg = resolve(load_config("mnist", ["data.name=digits8", "model.cond=concat", "model.g_width=8", "model.d_width=8",
                                        "train.batch_size=16"]))
    gan.validate(cfg)  # fills channels and num_classes from the data
    recipe = gan.build(cfg, torch.device("cpu"))
    run_dir = tmp_path / "runs" / "digits"
    run_dir.mkdir(parents=True)
    write_config(cfg, run_dir)
    save_state(cfg, recipe, run_dir, 0, [], {}, {}, 0.0)

    (run,) = own_runs(client)
    assert run["kind"] == "image" and run["views"] == ["grid", "interpolate", "classes"] and run["num_classes"] == 10
    for url in ["grid.png?n=16", "grid.png?n=8&cls=3", "interpolate.png?t=5&rows=2", "interpolate.png?t=0&cls=9"]:
        r = client.get(f"/api/runs/digits/{url}")
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n", url
    assert "out of range" in client.get("/api/runs/digits/grid.png?cls=10").json()["error"]
    assert client.get("/api/runs/digits/interpolate.png?t=12").status_code == 422
    assert client.get("/api/runs/digits/scatter").status_code == 400


def test_frame_arrows_are_minus_the_generator_gradient():
    s = LabSession({**SMALL, "loss": "ns", "remedy": "none"})
    h, a = decode_frame(s.advance(2))
    G, D = s.recipe.models["G"], s.recipe.models["D"]
    fake = G(s.z_view).detach().requires_grad_(True)
    torch.nn.functional.softplus(-D(fake)).sum().backward()  # per-sample non-saturating loss
    scale = float(s.recipe.extra_state["data_scale"])
    np.testing.assert_allclose(a["arrows"].reshape(-1, 2), (-fake.grad / scale).numpy(), rtol=1e-4, atol=1e-6)
    assert h["prob"] and 0 <= a["heat"].min() and a["heat"].max() <= 1  # D(x) for ns
    s.close()


@pytest.mark.parametrize("preset, overrides, view, urls", [
    ("stylegan-mnist", ["data.size=16", "model.g_width=4", "model.d_width=4", "model.w_dim=16", "model.map_layers=2",
                        "model.mbstd=2", "train.batch_size=8"],
     ["grid", "interpolate", "mix"], ["mix.png", "mix.png?layers=fine&seed=3", "grid.png?n=4"]),
    ("inpaint", ["model.g_width=4", "model.d_width=4", "train.batch_size=4"], ["triptychs"], ["triptychs.png?n=3"]),
])
def test_gallery_stylegan_mixing_and_translation_triptychs(client, tmp_path, preset, overrides, view, urls):
    from ganforge.loop import save_state
    from ganforge.recipes import load_config, recipe_module, resolve
    from ganforge.runfolder import write_config

    cfg = resolve(load_config(preset, overrides))
    recipe_module(cfg).validate(cfg)
    recipe = recipe_module(cfg).build(cfg, torch.device("cpu"))
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    write_config(cfg, run_dir)
    save_state(cfg, recipe, run_dir, 0, [], {}, {}, 0.0)

    (run,) = own_runs(client)
    assert run["views"] == view
    for url in urls:
        r = client.get(f"/api/runs/r/{url}")
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n", url
    other = "triptychs.png" if "mix" in view else "mix.png"
    assert client.get(f"/api/runs/r/{other}").status_code == 400
    assert client.get("/api/runs/r/mix.png?layers=../x").status_code == 422


def test_gallery_caption_box_of_a_text_to_image_run(client, tmp_path):
    from ganforge.loop import save_state
    from ganforge.recipes import load_config, resolve, text2image
    from ganforge.runfolder import write_config

    cfg = resolve(load_config("text2image-digits", ["model.g_width=4", "model.d_width=4", "model.z_dim=8",
                                                    "model.proj_dim=8", "train.batch_size=8"]))
    text2image.validate(cfg)
    recipe = text2image.build(cfg, torch.device("cpu"))
    run_dir = tmp_path / "runs" / "t2i"
    run_dir.mkdir(parents=True)
    write_config(cfg, run_dir)
    save_state(cfg, recipe, run_dir, 0, [], {}, {}, 0.0)

    (run,) = own_runs(client)
    assert run["views"] == ["grid", "interpolate", "text"]
    plain, four = (client.get(f"/api/runs/t2i/grid.png?n=8{q}") for q in ("", "&text=a%20thin%20four"))
    assert plain.status_code == four.status_code == 200 and plain.content != four.content
    r = client.get("/api/runs/t2i/interpolate.png?t=3&rows=2&text=a%20thick%20seven")
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/api/runs/t2i/grid.png?text=" + "x" * 201).status_code == 422  # too long
    assert client.get("/api/runs/pretrained:mnist/grid.png?n=4&text=a%20four").status_code == 400


def test_gallery_lists_the_pretrained_models_on_a_first_start_and_opens_them(client, tmp_path):
    from ganforge import pretrained

    assert not (tmp_path / "runs").exists()  # a first start: --runs does not exist yet
    runs = client.get("/api/runs").json()["runs"]
    shipped = [name for name, _, _ in pretrained.available()]
    assert [r["name"] for r in runs] == shipped and len(shipped) >= 3
    listed = {r["name"]: r for r in runs}
    assert listed["pretrained:ring8"]["kind"] == "2d" and listed["pretrained:ring8"]["unreadable"] is None
    assert "fid" in listed["pretrained:mnist"]["score"] and "floor" in listed["pretrained:mnist"]["score"]
    assert listed["pretrained:mnist-cond"]["num_classes"] == 10 and listed["pretrained:mnist"]["description"]
    assert len(client.get("/api/runs/pretrained:ring8/scatter?n=20").json()["fake"]) == 20
    r = client.get("/api/runs/pretrained:mnist/grid.png?n=4")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"
    assert client.get("/api/runs/pretrained:nope/grid.png").status_code == 404
    assert not (tmp_path / "runs").exists()  # listing and opening them wrote nothing


def test_substep_command_sends_a_labelled_frame_and_settings_report_applied(client):
    ws, hello, _ = open_session(client)
    assert list(hello["substeps"])[:2] == ["noise", "generate"] and hello["kl"]["alpha"] > 0
    ws.send_json({"type": "substep", "name": "classify"})
    state, frames = until(ws, "state")
    (h, arrays), = frames
    assert h["substep"]["name"] == "classify" and h["substep"]["box"] == "D" and state["cycle"] == 3
    assert "step_real" in arrays and "step_fake" in arrays and h["step"] == 0
    ws.send_json({"type": "substep", "name": "bogus"})
    assert "unknown sub-step" in until(ws, "error")[0]["message"]
    ws.send_json({"type": "settings", "values": {"lr_d": -1}})
    assert until(ws, "state")[0]["applied"] is False  # refused: the page keeps its error message
    ws.send_json({"type": "settings", "values": {"lr_d": 1e-3}})
    state, _ = until(ws, "state")
    assert state["applied"] is True and state["cycle"] == 0  # accepted (the half-done iteration was finished)
    ws.send_json({"type": "step"})
    (h, _), = until(ws, "state")[1]
    assert h["substep"] is None and h["step"] == 2 and h["flow"]["D"]["real"] == h["flow"]["D"]["real"]
    ws.__exit__(None, None, None)

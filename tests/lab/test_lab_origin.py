"""The lab answers only its own address: Host and Origin checks (DNS rebinding), and broken runs in the gallery.

Driven with Starlette's TestClient: ``base_url`` sets the Host header and the address the request
"arrived on" (the ASGI ``server``), a ``host`` header overrides the Host alone.
"""

import shutil
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*")
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

import ganforge.lab.server as server  # noqa: E402
from ganforge.lab import create_app  # noqa: E402
from ganforge.lab.server import allowed_names, split_host  # noqa: E402

PORT = 8765
BASE, WS = f"http://127.0.0.1:{PORT}", f"ws://127.0.0.1:{PORT}/ws"
RING8 = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1" / "ring8"
EVIL = "evil.example:8765"  # a name its owner points at 127.0.0.1 after the page loaded (DNS rebinding)


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(RING8, root / "ring8")
    return root


@pytest.fixture
def client(runs):
    with TestClient(create_app(runs, port=PORT), base_url=BASE) as c:
        yield c


@pytest.fixture
def sessions(monkeypatch):
    """Every LabSession the server creates."""
    made = []
    real = server.LabSession

    def counted(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(server, "LabSession", counted)
    return made


def refused(client, url, headers):
    """The WebSocketDisconnect of a handshake the server refuses (an accepted one is closed, then fails the test)."""
    try:
        with client.websocket_connect(url, headers=headers):
            pass
    except WebSocketDisconnect as e:
        return e
    raise AssertionError(f"the WebSocket with {headers} was accepted")


ROUTES = ["/", "/static/app.js", "/static/style.css", "/api/runs", "/api/runs/ring8/scatter?n=10", "/nope"]


@pytest.mark.parametrize("path", ROUTES)
def test_http_with_a_foreign_host_is_refused_on_every_route(client, path):
    r = client.get(path, headers={"host": EVIL})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/plain")
    assert r.text == f"refused: Host '{EVIL}' is not this lab's address; open http://127.0.0.1:{PORT}/\n"
    assert "ring8" not in r.text and "<html" not in r.text.lower()


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}", f"[::1]:{PORT}"])
def test_http_with_this_servers_host_works(client, host):
    assert client.get("/", headers={"host": host}).status_code == 200
    assert client.get("/static/app.js", headers={"host": host}).status_code == 200
    runs = client.get("/api/runs", headers={"host": host}).json()["runs"]
    assert [r["name"] for r in runs if not r["pretrained"]] == ["ring8"]
    r = client.get("/api/runs/ring8/scatter?n=10", headers={"host": host, "origin": f"http://{host}"})
    assert r.status_code == 200 and len(r.json()["fake"]) == 10


@pytest.mark.parametrize("host", [
    "127.0.0.1:9999",  # a wrong port (another server's page, a forwarded port)
    "127.0.0.1",  # no port: 80
    "[::1]:9999", "localhost:8765.evil.example", "127.0.0.1.evil.example:8765", "::1:8765",  # malformed / tricks
    "127.0.0.2:8765", "[::2]:8765", "", "user@127.0.0.1:8765", "127.0.0.1:8765/x", "testserver",
])
def test_http_with_a_wrong_port_or_malformed_host_is_refused(client, host):
    r = client.get("/api/runs", headers={"host": host})
    assert r.status_code == 403 and r.text.startswith("refused: Host"), host


def test_http_with_a_foreign_origin_is_refused(client):
    ok = {"host": f"127.0.0.1:{PORT}"}
    for origin in ["http://evil.example:8765", f"http://127.0.0.1:{PORT + 1}", "null", f"http://127.0.0.1:{PORT}/x"]:
        r = client.get("/api/runs", headers={**ok, "origin": origin})
        assert r.status_code == 403 and r.text.startswith(f"refused: Origin {origin!r}"), origin
    assert client.get("/api/runs", headers={**ok, "origin": f"http://localhost:{PORT}"}).status_code == 200


def test_http_without_host_is_refused(runs):
    import asyncio

    app = create_app(runs, port=PORT)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.0", "method": "GET", "scheme": "http",
             "path": "/api/runs", "raw_path": b"/api/runs", "query_string": b"", "root_path": "",
             "headers": [], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", PORT)}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400 and sent[1]["body"] == b"refused: the request has no Host header\n"


def test_a_websocket_from_a_rebound_name_is_refused_before_any_session(client, sessions):
    for headers in [{"host": EVIL, "origin": f"http://{EVIL}"},  # the rebinding page: both name evil.example
                    {"origin": f"http://{EVIL}"},  # a right Host (a client that lies) and the page's Origin
                    {"host": EVIL}]:  # no Origin (not a browser) but a foreign Host
        e = refused(client, WS, headers)
        assert e.code == 1008 and "is not this lab's address" in e.reason, headers
    assert sessions == [] and client.app.state.sessions == 0


@pytest.mark.parametrize("origin", [f"http://127.0.0.1:{PORT + 1}", "http://localhost:3000", "null", "file://",
                                    f"http://127.0.0.1:{PORT}.evil.example"])
def test_a_websocket_from_another_port_or_origin_is_refused(client, sessions, origin):
    e = refused(client, WS, {"origin": origin})
    assert e.code == 1008 and e.reason.startswith("refused: Origin")
    assert sessions == []


@pytest.mark.parametrize("base, origin", [(WS, f"http://127.0.0.1:{PORT}"), (WS, f"http://localhost:{PORT}"),
                                          (f"ws://[::1]:{PORT}/ws", f"http://[::1]:{PORT}"), (WS, None)])
def test_a_websocket_from_this_servers_page_works(client, sessions, base, origin):
    headers = {"origin": origin} if origin else {}
    with client.websocket_connect(base, headers=headers) as ws:
        assert ws.receive_json()["type"] == "hello"
    assert len(sessions) == 1


def test_the_port_is_the_one_the_request_arrived_on_when_not_given(runs):
    with TestClient(create_app(runs), base_url="http://127.0.0.1:9001") as c:  # create_app(port=None)
        assert c.get("/api/runs").status_code == 200
        assert c.get("/api/runs", headers={"host": "127.0.0.1:9002"}).status_code == 403
        assert c.get("/api/runs", headers={"host": "evil.example:9001"}).status_code == 403
    with TestClient(create_app(runs)) as c:  # TestClient's own Host, "testserver", is not the lab's
        r = c.get("/")
        assert r.status_code == 403 and "'testserver'" in r.text


def test_a_bind_to_every_interface_accepts_loopback_the_hostname_and_the_local_address(runs):
    import socket

    me = socket.gethostname().lower()
    assert allowed_names("0.0.0.0") == allowed_names("::") == {"127.0.0.1", "localhost", "::1", me}
    assert allowed_names("127.0.0.1") == allowed_names("localhost") == allowed_names("::1")
    assert allowed_names("192.168.1.5") == {"192.168.1.5"} and allowed_names("Lab.Example") == {"lab.example"}
    with TestClient(create_app(runs, host="0.0.0.0", port=PORT), base_url=f"http://192.168.1.5:{PORT}") as c:
        for host in [f"192.168.1.5:{PORT}", f"{me}:{PORT}", f"localhost:{PORT}"]:
            assert c.get("/api/runs", headers={"host": host}).status_code == 200, host
        assert c.get("/api/runs", headers={"host": EVIL}).status_code == 403
    with TestClient(create_app(runs, host="192.168.1.5", port=PORT), base_url=f"http://192.168.1.5:{PORT}") as c:
        assert c.get("/api/runs").status_code == 200
        assert c.get("/api/runs", headers={"host": f"localhost:{PORT}"}).status_code == 403


def test_split_host():
    assert split_host("[::1]:8765", 80) == ("::1", 8765) and split_host("[::FFFF:127.0.0.1]:1", 80) == ("127.0.0.1", 1)
    assert split_host("LocalHost", 80) == ("localhost", 80)
    for bad in ["::1", "[::1", "[evil]:1", "a:b", "a:0", "a:65536", "a:1:2", ":80", "a b:1", "a:+1"]:
        assert split_host(bad, 80) is None, bad


# ---------------------------------------------------------------- broken runs in the gallery

def _broken(root):
    """Run folders beside ring8 that cannot be read, and the words of each one's reason."""
    for name in ["corrupt", "empty", "listy", "badloss", "truncated", "code"]:
        shutil.copytree(RING8, root / name)
    (root / "corrupt" / "config.yaml").write_text("loss: [unclosed\n  : :")
    (root / "empty" / "config.yaml").write_text("  \n")
    (root / "listy" / "config.yaml").write_text("- 1\n- 2\n")
    (root / "badloss" / "config.yaml").write_text("loss: nope\n")
    ckpt = root / "truncated" / "checkpoints" / "step_00000020.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:300])
    # a zip file that is not a checkpoint: passes the listing's cheap check, fails when opened
    import zipfile

    with zipfile.ZipFile(root / "code" / "checkpoints" / "step_00000020.pt", "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\n.")
    (root / "started").mkdir()  # a config, no checkpoint yet: not listed
    shutil.copy(RING8 / "config.yaml", root / "started" / "config.yaml")
    (root / "notes").mkdir()  # no config: not a run folder
    return {"corrupt": "while parsing a flow sequence", "empty": "config.yaml is empty",
            "listy": "mapping", "badloss": "'nope'",
            "truncated": "no readable checkpoint: checkpoints/step_00000020.pt"}


def test_gallery_lists_broken_runs_as_unreadable_with_their_reason(client, runs):
    shutil.copytree(RING8, runs / "z-good")
    reasons = _broken(runs)
    r = client.get("/api/runs")
    assert r.status_code == 200
    listed = {run["name"]: run for run in r.json()["runs"] if not run["pretrained"]}
    assert set(listed) == {"ring8", "z-good", "code", *reasons}
    for name in ("ring8", "z-good", "code"):  # "code" looks fine until it is opened
        assert listed[name]["unreadable"] is None and listed[name]["kind"] == "2d" and listed[name]["step"] == 20
    for name, words in reasons.items():
        run = listed[name]
        assert run["views"] == [] and words in run["unreadable"] and len(run["unreadable"]) <= 200, run
        assert str(runs) not in run["unreadable"]  # paths inside the run are relative
    assert client.get("/api/runs/z-good/scatter?n=10").status_code == 200

    for name in [*reasons, "code"]:  # opening one is a 422 with the reason, never a 500
        r = client.get(f"/api/runs/{name}/scatter?n=10")
        assert r.status_code == 422 and r.json()["error"].startswith(f"run {name!r} is unreadable: "), (name, r.text)
    assert "checkpoints/step_00000020.pt" in client.get("/api/runs/code/scatter").json()["error"]
    listed = {run["name"]: run for run in client.get("/api/runs").json()["runs"]}
    assert "checkpoints/step_00000020.pt" in listed["code"]["unreadable"]  # the failed load is remembered ...
    shutil.copy(RING8 / "checkpoints" / "step_00000020.pt", runs / "code" / "checkpoints" / "step_00000020.pt")
    listed = {run["name"]: run for run in client.get("/api/runs").json()["runs"]}
    assert listed["code"]["unreadable"] is None  # ... until its files change
    assert client.get("/api/runs/code/scatter?n=10").status_code == 200


def test_gallery_reason_is_one_short_line(runs):
    from ganforge.errors import CheckpointError
    from ganforge.lab.gallery import Gallery

    g = Gallery(runs)
    p = g.path("ring8")
    why = g.reason(p, CheckpointError(f"{p}/checkpoints/step_1.pt is bad:\n" + "x" * 1000))
    assert why.startswith("checkpoints/step_1.pt is bad: xxx") and len(why) == 200 and why.endswith("\u2026")
    assert g.reason(p, KeyError("models")) == "KeyError: 'models'"

"""The lab in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

The test starts the lab with uvicorn on a free port, loads the page, presses Play and Pause,
types refused values and opens a path outside the gallery. It never downloads a browser
(`make test` installs Debian's chromium when it can); without chromium or playwright it is
skipped with the reason.
"""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    import uvicorn

    from ganforge.lab import create_app
    from ganforge.lab.server import WS_MAX_SIZE

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.yaml").write_text("loss: ns\n")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "escape").symlink_to(outside)  # a link out of the gallery folder
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(runs), host="127.0.0.1", port=port, log_level="warning",
                                        ws_max_size=WS_MAX_SIZE))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", runs
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        yield page
        browser.close()


def snapshot(page) -> dict:
    return page.evaluate("""() => ({step: lab.step, frames: lab.frames, fake: Array.from(lab.frame.arrays.fake),
        heat: Array.from(lab.frame.arrays.heat), metrics: document.querySelector('#metrics').innerText,
        playing: lab.playing})""")


def test_live_view_plays_pauses_and_refuses_bad_values(server, page):
    url, runs = server
    page.goto(url)
    page.wait_for_function("() => window.lab && lab.frame && document.querySelector('#set-lr_g')")
    page.evaluate("lab.send({type: 'settings', values: {g_width: 32, d_width: 32, batch_size: 64, speed: 3}})")
    page.wait_for_function("() => lab.settings.g_width === 32 && lab.step === 0")
    before = snapshot(page)

    page.click("#play")
    page.wait_for_function(f"() => lab.step >= 60 && lab.frames >= {before['frames'] + 20}", timeout=60_000)
    page.wait_for_function("(old) => document.querySelector('#metrics').innerText !== old", arg=before["metrics"],
                           timeout=60_000)  # metrics come about once a second
    during = snapshot(page)
    assert during["playing"] and page.inner_text("#play") == "Pause"
    assert during["fake"] != before["fake"]  # the generator's points moved
    assert during["heat"] != before["heat"]  # the discriminator's surface changed
    assert during["metrics"] != before["metrics"] and "W1" in during["metrics"]  # the metrics updated

    page.click("#play")  # Pause
    page.wait_for_function("() => !lab.playing")
    time.sleep(0.3)  # a frame already on its way may still land
    paused = snapshot(page)
    time.sleep(1.0)
    after = snapshot(page)
    assert after["step"] == paused["step"] and after["frames"] == paused["frames"] and after["fake"] == paused["fake"]

    for selector, value, words in [("#set-lr_g", "-1", "lr_g must be between"),
                                   ("#set-g_width", "1000000", "g_width must be between")]:
        page.fill(selector, value)
        page.dispatch_event(selector, "change")
        page.wait_for_function(f"() => document.querySelector('#message').innerText.includes({words!r})")
        page.wait_for_function(f"() => document.querySelector({selector!r}).value !== {value!r}")  # put back
    page.evaluate("lab.send({type: 'settings', values: {loss: 'no-such-loss'}})")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes(\"'no-such-loss' is not\")")
    assert page.evaluate("lab.step") == after["step"]  # refusals changed nothing

    page.fill("#save-name", "from-browser")
    page.click("#save")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('saved')")
    assert (runs / "from-browser" / "config.yaml").is_file()


def test_gallery_shows_runs_and_refuses_outside_paths(server, page):
    url, runs = server
    page.goto(url + "#run=escape")  # a symlink to a folder outside the gallery
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('outside the gallery')")
    assert page.is_visible("#gallery") and not page.is_visible("#g-scatter")
    r = page.request.get(url + "api/runs/..%2Foutside/scatter")
    assert r.status == 404
    r = page.request.get(url + "api/runs/.hidden/grid.png")
    assert r.status == 403 and "refused" in r.json()["error"]

    page.goto(url)
    page.wait_for_function("() => window.lab && lab.frame")
    page.evaluate("lab.send({type: 'settings', values: {g_width: 16, d_width: 16, batch_size: 32}})")
    page.evaluate("lab.send({type: 'step'})")
    page.evaluate("lab.send({type: 'save', name: 'tiny'})")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('saved')")
    page.click("#tab-gallery")
    page.click("#runs li[data-name=tiny]")
    page.wait_for_selector("#g-scatter", state="visible")
    assert page.inner_text("#runs").count("tiny") == 1 and "escape" not in page.inner_text("#runs")
    assert "pretrained (shipped with ganforge" in page.inner_text("#runs")  # after the user's runs
    page.click('#runs li[data-name="pretrained:mnist"]')
    page.wait_for_selector("#g-grid", state="visible")
    page.wait_for_function("() => document.querySelector('#g-grid').naturalWidth > 0")
    assert "floor" in page.inner_text("#run-info")

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


TINY = {"g_width": 16, "d_width": 16, "batch_size": 32}  # small networks: quick frames


def open_lab(page, url: str, **settings) -> None:
    """Load the live view, wait for its first frame and controls, then apply ``settings`` and wait for them."""
    page.goto(url)
    page.wait_for_function("() => window.lab && lab.frame && document.querySelector('#sub-noise')")
    if settings:
        page.evaluate("(v) => lab.send({type: 'settings', values: v})", settings)
        page.wait_for_function("(v) => Object.entries(v).every(([k, x]) => lab.settings[k] === x) && lab.step === 0",
                               arg=settings)


def save_run(page, name: str) -> None:
    page.evaluate("(name) => lab.send({type: 'save', name})", name)
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('saved')")


def snapshot(page) -> dict:
    return page.evaluate("""() => ({step: lab.step, frames: lab.frames, fake: Array.from(lab.frame.arrays.fake),
        heat: Array.from(lab.frame.arrays.heat), metrics: document.querySelector('#metrics').innerText,
        playing: lab.playing})""")


def test_live_view_plays_pauses_and_refuses_bad_values(server, page):
    url, runs = server
    open_lab(page, url, g_width=32, d_width=32, batch_size=64, speed=3)
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

    open_lab(page, url, **TINY)
    page.evaluate("lab.send({type: 'step'})")
    save_run(page, "tiny")
    page.click("#tab-gallery")
    page.click("#runs li[data-name=tiny]")
    page.wait_for_selector("#g-scatter", state="visible")
    assert page.inner_text("#runs").count("tiny") == 1 and "escape" not in page.inner_text("#runs")
    assert "pretrained (shipped with ganforge" in page.inner_text("#runs")  # after the user's runs
    page.click('#runs li[data-name="pretrained:mnist"]')
    page.wait_for_selector("#g-grid", state="visible")
    page.wait_for_function("() => document.querySelector('#g-grid').naturalWidth > 0")
    assert "floor" in page.inner_text("#run-info")
    if page.is_visible("#g-interp-box"):  # the latent walk says what it moves
        page.wait_for_function("() => document.querySelector('#g-interp-label').innerText.includes('slerp')")
        assert "seed 0" in page.inner_text("#g-interp-label") and "z_A" in page.inner_text("#g-interp-label")


def test_gallery_2d_view_has_legend_heat_scale_metrics_and_curves(server, page):
    url, runs = server
    open_lab(page, url, **TINY, speed=3)
    page.evaluate("lab.send({type: 'play'})")
    page.wait_for_function("() => lab.step >= 30", timeout=30_000)
    page.evaluate("lab.send({type: 'pause'})")
    save_run(page, "curvy")
    page.goto(url + "#run=curvy")
    page.wait_for_selector("#g-scatter-box", state="visible")
    page.wait_for_function("() => lab.gallery && lab.gallery.name === 'curvy'")
    box = page.inner_text("#g-scatter-box")
    assert "real" in box and "generated" in box  # the legend
    assert page.inner_text("#g-heat-lo") and page.inner_text("#g-heat-hi")  # the heat scale's ends
    assert "least-squares" in page.inner_text("#g-heat-legend") and "critic" not in page.inner_text("#g-heat-legend")
    metrics = page.inner_text("#g-metrics")
    assert "W1" in metrics and "modes captured" in metrics
    modes = page.evaluate("""() => [...document.querySelectorAll('#g-metrics tr')]
        .find((r) => r.innerText.includes('modes')).cells[1].innerText""")
    assert modes.isdigit()  # a count, shown as "8", not "8.00"
    curves = page.evaluate("lab.gallery.curves")
    assert len(curves["Loss/D"]) >= 2 and len(curves["Loss/G"]) >= 2
    painted = page.evaluate("""() => { const c = document.querySelector('#g-curves');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""")
    assert painted > 200  # the loss curves are drawn


def test_model_graph_step_by_step_and_readable_views(server, page):
    url, _ = server
    open_lab(page, url, **TINY, d_steps=2)
    assert page.locator("#graph .box").count() == 8
    assert page.text_content("#box-D .title") == "discriminator"  # the preset's LSGAN
    assert "critic" not in page.inner_text("#heat-legend")
    before = page.text_content("#box-loss")
    page.click("#step")
    page.wait_for_function("() => lab.step === 1")
    page.wait_for_function("(old) => document.querySelector('#box-loss').textContent !== old", arg=before)
    assert "k = 2" in page.text_content("#box-D")

    # every sub-step button, in order: the server reports which network moved
    order = ["noise", "generate", "classify", "d_loss", "d_update"] * 2 + ["g_forward", "g_loss", "g_grad",
                                                                           "g_update"]
    boxes = {"noise": "z", "generate": "G", "classify": "D", "d_loss": "loss", "d_update": "D", "g_forward": "G",
             "g_loss": "loss", "g_grad": "grad", "g_update": "G"}
    last = None
    for i, name in enumerate(order):
        page.click(f"#sub-{name}")
        page.wait_for_function(f"() => lab.frame.header.substep && lab.frame.header.substep.cycle === {(i + 1) % 14}")
        sub = page.evaluate("lab.frame.header.substep")
        assert sub["name"] == name
        if last is not None:
            assert (sub["params"]["D"] != last["D"]) == (name == "d_update"), name
            assert (sub["params"]["G"] != last["G"]) == (name == "g_update"), name
        last = sub["params"]
        assert page.evaluate(f"document.querySelector('#box-{boxes[name]}').classList.contains('active')"), name
        assert sub["label"].split(":")[0] in page.inner_text("#sub-caption")
        if name == "generate":
            assert page.evaluate("!!lab.frame.arrays.step_fake && !!lab.frame.arrays.step_real")
        if name == "g_grad":
            assert page.evaluate("!!lab.frame.arrays.step_arrows")
            assert "px = |∇| of 1" in page.inner_text("#arrow-legend")
    assert page.evaluate("lab.step") == 2
    assert page.evaluate("document.querySelector('#sub-noise').classList.contains('next')")

    page.fill("#slowmo-ms", "100")
    page.click("#slowmo")  # slow motion: the sub-steps play by themselves
    page.wait_for_function("() => lab.frame.header.substep && lab.frame.header.substep.cycle >= 3", timeout=20_000)
    page.click("#slowmo")
    assert page.evaluate("lab.slowmo") is False

    page.hover("#box-D")
    assert page.evaluate("lab.highlight") == "heat"
    page.click("#box-loss")
    page.mouse.move(5, 5)
    assert page.evaluate("lab.highlight") == "curves" and "lit" in page.get_attribute("#curves", "class")
    page.click("#box-fake")
    assert page.evaluate("lab.highlight") == "fake"

    # an error banner goes away once the value is fixed
    page.fill("#set-lr_d", "-1")
    page.dispatch_event("#set-lr_d", "change")
    page.wait_for_function("() => document.querySelector('#message').innerText.includes('lr_d must be between')")
    page.fill("#set-lr_d", "0.001")
    page.dispatch_event("#set-lr_d", "change")
    page.wait_for_function("() => document.querySelector('#message').hidden")

    page.select_option("#set-loss", "wgan-gp")  # labels follow the loss
    page.wait_for_function("() => lab.frame.header.flow.loss === 'wgan-gp'")
    assert page.text_content("#box-D .title") == "critic" and "critic" in page.inner_text("#heat-legend")
    page.wait_for_function("() => document.querySelector('#metrics').innerText.includes('modes')")
    cell = """(name) => [...document.querySelectorAll('#metrics tr')]
        .find((r) => r.innerText.includes(name)).cells[1].innerText"""
    assert page.evaluate(cell, "modes").isdigit()
    hq = page.evaluate(cell, "high quality")
    assert hq.endswith("%") and 0 <= float(hq[:-1]) <= 100  # a fraction shown as a percentage

    assert "N(0, I)" in page.text_content("#box-z")
    page.select_option("#set-z_dist", "uniform")  # the noise choice: the graph and the inset follow
    page.wait_for_function("() => lab.frame.header.flow.z.dist === 'uniform'")
    assert "U[-1, 1]" in page.text_content("#box-z")

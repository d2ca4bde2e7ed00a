"""``ganforge lab``: train a 2-D GAN live in the browser, and explore trained run folders.

    ganforge lab [--host 127.0.0.1] [--port 8000] [--runs runs] [--no-browser]

    from ganforge.lab import create_app
    app = create_app("runs")        # a FastAPI app: serve it with uvicorn, or test it with Starlette's TestClient

``session.py`` is one live training session (one per browser tab), ``gallery.py`` the
run folders under ``--runs``, ``server.py`` the web app, ``static/`` the page (plain
JavaScript and canvas; nothing is fetched from the internet).
"""

from ganforge.lab.server import create_app, serve

__all__ = ["create_app", "serve"]

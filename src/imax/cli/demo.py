"""``imax demo``: serve a local page (127.0.0.1 only) to ask a checkpoint about uploaded or sample images."""

from __future__ import annotations

from imax.schema.config.predict import DemoConfig as Config

HELP = "Serve a local web page to ask a checkpoint about uploaded or sample images."


def run(cfg: Config) -> int:
    from imax.report.demo import serve_demo

    serve_demo(cfg, ready=lambda url: print(f"imax demo: serving {url} (Ctrl-C to stop)", flush=True))
    return 0


__all__ = ["HELP", "Config", "run"]

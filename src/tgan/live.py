"""The live view of `tgan watch`: a self-refreshing page and a small local web server for it.

The watcher renders the page (index.html and live.png: the latest frame with its outlines, the PSD of the
last N frames, count and mean diameter against time for the whole session) after each frame, at most every
few seconds while frames queue up. The server only reads: it serves files of the output folder, nothing
outside it (no path above it, no link out of it, no directory listing), answers GET and HEAD only, and
listens on 127.0.0.1 unless told otherwise, because microscope PCs sit on facility networks. The page
needs no internet: plain HTML that reloads itself.
"""

from __future__ import annotations

import errno
import html
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import imageio.v3 as iio
import numpy as np
import pandas as pd

from .files import atomic
from .psd import counted

log = logging.getLogger("tgan.watch")

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png", ".csv": "text/csv; charset=utf-8",
                 ".json": "application/json", ".log": "text/plain; charset=utf-8"}
PAGE_REFRESH_S = 2


def _unit(summary: pd.DataFrame) -> str:
    """nm when every frame is calibrated, else px (one axis for the whole session)."""
    return "nm" if len(summary) and summary["pixel_size_nm"].notna().all() else "px"


def render(out: Path, summary: pd.DataFrame, particles: pd.DataFrame, rejected: pd.DataFrame, backlog: int,
           last_n: int, title: str, exclude_border: bool, folder: str) -> None:
    """Write live.png and index.html (atomically: the server never serves half a file)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display

    fig = Figure(figsize=(14, 4.6), dpi=90)
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.15, 1.35]})
    unit = _unit(summary)
    latest = summary.iloc[-1] if len(summary) else None
    if latest is not None:
        axes[0].imshow(iio.imread(out / "overlays" / f"{latest['image']}.png"), interpolation="nearest")
        axes[0].set_title(f"latest: {latest['image']}", fontsize=10)
    axes[0].axis("off")

    recent = summary["image"].iloc[-last_n:] if len(summary) else []
    used = counted(particles[particles["image"].isin(recent)], exclude_border) if len(particles) else particles
    d = used[f"diameter_{unit}"].dropna().to_numpy(float) if len(used) else np.array([])
    if d.size:
        axes[1].hist(d, bins="auto", color="#4477aa", edgecolor="white")
    axes[1].set_title(f"PSD of the last {min(last_n, len(summary))} frame(s): {d.size} particles", fontsize=10)
    axes[1].set_xlabel(f"equivalent circular diameter ({unit})")
    axes[1].set_ylabel("particles")

    ax = axes[2]
    if len(summary):
        series = summary.sort_values("elapsed_s")
        t = series["elapsed_s"].to_numpy(float)
        ax.plot(t, series["count"], "o-", color="#228833", label="count")
        twin = ax.twinx()
        twin.plot(t, series[f"diameter_{unit}_mean"], "s-", color="#cc3311", label=f"mean diameter ({unit})")
        twin.set_ylabel(f"mean diameter ({unit})", color="#cc3311")
    ax.set_xlabel("time since the first frame (s)")
    ax.set_ylabel("particles per frame", color="#228833")
    ax.set_title("whole session", fontsize=10)
    fig.suptitle(f"{title}: live particle-size analysis", fontsize=12)
    fig.tight_layout()
    with atomic(out / "live.png") as tmp:
        fig.savefig(tmp)

    status = [f"{len(summary)} frame(s) analysed", f"backlog: {backlog} frame(s) queued",
              f"{len(rejected)} file(s) skipped"]
    if latest is not None:
        status.insert(1, f"latest: {latest['image']} ({latest['time']}, {int(latest['count'])} particles, "
                         f"mean {latest[f'diameter_{unit}_mean']:.2f} {unit})")
    skipped = "".join(f"<li>{html.escape(str(r.file))}: {html.escape(str(r.reason))}</li>"
                      for r in rejected.itertuples())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{PAGE_REFRESH_S}">
<title>tgan watch: {html.escape(title)}</title>
<style>body {{font-family: sans-serif; margin: 1em}} img {{max-width: 100%}} li {{color: #a33}}</style></head>
<body><h2>tgan watch: {html.escape(title)}</h2>
<p>watching {html.escape(folder)}<br>{"<br>".join(html.escape(s) for s in status)}</p>
<img src="live.png" alt="latest frame, PSD and time series">
<p><a href="summary.csv">summary.csv</a> · <a href="particles.csv">particles.csv</a></p>
{f"<ul>{skipped}</ul>" if skipped else ""}
</body></html>
"""
    with atomic(out / "index.html") as tmp:
        tmp.write_text(page)


def _handler(root: Path):
    root = root.resolve()

    class Handler(BaseHTTPRequestHandler):
        """GET and HEAD of files inside `root`; everything else is refused (no other method is defined)."""

        def _file(self) -> Path | None:
            relative = unquote(urlsplit(self.path).path).lstrip("/") or "index.html"
            try:
                path = (root / relative).resolve()
            except (OSError, RuntimeError, ValueError):
                return None
            return path if path.is_relative_to(root) and path.is_file() else None

        def _send(self, body: bool) -> None:
            path = self._file()
            if path is None:
                self.send_error(HTTPStatus.NOT_FOUND, "not an output of this session")
                return
            data = path.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self._send(True)

        def do_HEAD(self):  # noqa: N802
            self._send(False)

        def log_message(self, format, *args):  # requests go to the debug log, not the operator's console
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


def serve(root: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """Start the server in a background thread; port 0 picks a free one (server.server_address). A port that
    is taken (another `tgan watch`) is an error that says so and how to pick another."""
    try:
        server = ThreadingHTTPServer((host, port), _handler(root))
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        raise SystemExit(f"port {port} on {host} is in use (another tgan watch?): give another with --port N, "
                         "or --port 0 for a free one, or --no-server") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="tgan-live", daemon=True).start()
    return server

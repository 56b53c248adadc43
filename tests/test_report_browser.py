"""The report in a real headless Chromium: it renders, runs nothing from the corpus, fetches nothing."""

import http.server
import os
import shutil
import subprocess
import threading

import pytest

from smotext.reports.render import render_report
from test_policy_gate import hostile_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(not CHROMIUM and not os.environ.get("CI"), reason="Debian's chromium is not installed")


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def _record(self):
        Recorder.seen.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_POST = do_CONNECT = do_HEAD = _record

    def log_message(self, *args):
        pass


def chromium(*args, timeout=60):
    assert CHROMIUM, "chromium is required in CI (apt-get install chromium)"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", "--no-pings", "--disable-domain-reliability",
            "--disable-client-side-phishing-detection", "--metrics-recording-only", "--disable-breakpad",
            "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"
            "CertificateTransparencyComponentUpdater,DialMediaRouteProvider,InterestFeedContentSuggestions"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout)


def test_hostile_report_renders_as_text_and_makes_no_request(tmp_path):
    report = render_report(hostile_results(), tmp_path / "report.html")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Recorder.seen = []
    try:
        # Every request the page could make (http, https, even to localhost) goes through our recording proxy.
        out = chromium(f"--proxy-server=http://127.0.0.1:{server.server_port}", "--proxy-bypass-list=<-loopback>",
                       f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000", "--dump-dom",
                       report.as_uri())
    finally:
        server.shutdown()
    dom = out.stdout
    assert "smotext synthetic-data report" in dom, out.stderr[-2000:]
    assert "<title>smotext report: audit</title>" in dom  # the injected script never ran (it would set "pwned")
    assert "&lt;script&gt;document.title" in dom  # the corpus's markup is shown as text
    assert "<img" not in dom.lower()
    # Chromium's own services (component updater, clock check) ignore the page; anything else is the page's.
    own = ("clients2.google.com", "update.googleapis.com", "accounts.google.com", "redirector.gvt1.com")
    from_page = [r for r in Recorder.seen if not any(host in r for host in own)]
    assert from_page == []
    assert not any("leak.example" in r for r in Recorder.seen)


def test_screenshot_of_the_first_screen(tmp_path):
    report = render_report(hostile_results(), tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    out = chromium(f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,900", report.as_uri())
    assert shot.exists() and shot.stat().st_size > 5000, out.stderr[-2000:]

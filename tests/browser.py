"""A small driver for headless Chromium (Debian's ``chromium`` package) used by the report tests.

It runs the browser's command line only: ``--dump-dom`` prints the DOM after the page's
scripts ran, ``--screenshot`` writes a PNG, ``--print-to-pdf`` prints the page as a
printer would. No WebDriver, no network: the browser is told not to talk to anyone.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
         "--disable-dev-shm-usage", "--no-default-browser-check"]


def find_chromium() -> str | None:
    """Path of a Chromium binary: $INVRECONCILE_CHROMIUM, then the usual names on PATH."""
    env = os.environ.get("INVRECONCILE_CHROMIUM")
    if env and Path(env).exists():
        return env
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary: str, workdir: Path, timeout: float = 120):
        self.binary = binary
        self.workdir = Path(workdir)
        self.timeout = timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def _run(self, args: list[str], url: str) -> subprocess.CompletedProcess:
        self._n += 1
        profile = self.workdir / f"profile-{self._n}"
        cmd = [self.binary, *FLAGS, f"--user-data-dir={profile}", *args, url]
        env = dict(os.environ, HOME=str(self.workdir))   # the launcher may write under $HOME
        proc = subprocess.run(cmd, capture_output=True, timeout=self.timeout, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"chromium exited {proc.returncode}: {proc.stderr.decode('utf-8', 'replace')[-2000:]}")
        return proc

    def dump_dom(self, url: str, *, window=(1400, 3000)) -> str:
        """The serialised DOM after the page's scripts ran."""
        proc = self._run(["--dump-dom", f"--window-size={window[0]},{window[1]}", "--virtual-time-budget=3000"], url)
        return proc.stdout.decode("utf-8")

    def screenshot(self, url: str, path, *, window=(1400, 3000)) -> Path:
        path = Path(path)
        self._run([f"--screenshot={path}", f"--window-size={window[0]},{window[1]}",
                   "--run-all-compositor-stages-before-draw", "--virtual-time-budget=3000"], url)
        if not path.exists():
            raise RuntimeError(f"chromium wrote no screenshot to {path}")
        return path

    def print_pdf(self, url: str, path) -> Path:
        path = Path(path)
        self._run([f"--print-to-pdf={path}", "--no-pdf-header-footer", "--virtual-time-budget=3000"], url)
        if not path.exists():
            raise RuntimeError(f"chromium wrote no PDF to {path}")
        return path


class Dom(HTMLParser):
    """The few things the tests read from a dumped DOM: attributes of <body>, of every element
    with an id, of finding rows and of charts, and the text of elements with an id."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.body: dict = {}
        self.by_id: dict = {}
        self.rows: list[dict] = []
        self.svgs: list[dict] = []
        self.scripts = 0
        self.texts: dict = {}
        self._open: list[tuple[str, str]] = []   # (tag, id) of elements with an id still open
        self.all_text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "body":
            self.body = a
        if tag == "script":
            self.scripts += 1
        if tag == "svg":
            self.svgs.append(a)
        if tag == "tr" and "finding" in a.get("class", "").split():
            self.rows.append(a)
        if a.get("id"):
            self.by_id[a["id"]] = a
            self._open.append((tag, a["id"]))
            self.texts.setdefault(a["id"], "")

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i]
                break

    def handle_data(self, data):
        self.all_text.append(data)
        for _, eid in self._open:
            self.texts[eid] += data

    @property
    def text(self) -> str:
        return "".join(self.all_text)

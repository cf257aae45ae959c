"""A small driver for headless Chromium (Debian's ``chromium`` package) used by the report tests.

It runs the browser's command line only: ``--dump-dom`` prints the DOM after the page's
scripts ran, ``--screenshot`` writes a PNG, ``--print-to-pdf`` prints the page as a
printer would. No WebDriver, no network: the browser is told not to talk to anyone.
"""
from __future__ import annotations

import json
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


class Page:
    """One page in a headless Chromium driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: file descriptors 3 and 4, no port, no websocket library),
    for real clicks and key presses. Use as a context manager."""

    def __init__(self, binary: str, workdir: Path, *, window=(1400, 1000), timeout: float = 60):
        self.timeout = timeout
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()

        def child_fds():                       # the browser reads commands on 3 and writes answers on 4
            a, b = os.dup(to_browser_r), os.dup(from_browser_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        cmd = [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={workdir / 'profile-cdp'}",
               f"--window-size={window[0]},{window[1]}", "about:blank"]
        self.proc = subprocess.Popen(cmd, preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=dict(os.environ, HOME=str(workdir)))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buf = b""
        self._id = 0
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
        import select
        import time
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode("utf-8") + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buf:
                raw, _, self._buf = self._buf.partition(b"\0")
                answer = json.loads(raw)
                if answer.get("id") == self._id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError(f"no answer to {method} within {self.timeout} s")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url: str, ready: str = "document.readyState === 'complete'") -> None:
        import time
        self.call("Page.navigate", {"url": url})
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(f"location.href.indexOf({url.split('#')[0]!r}) === 0 && ({ready})"):
                    return
            except RuntimeError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed, released) at the middle of the element."""
        box = self.evaluate(
            f"(function(){{var e=document.querySelector({json.dumps(selector)}); if(!e) return null;"
            "e.scrollIntoView({block:'center'}); var b=e.getBoundingClientRect();"
            "return [b.left+b.width/2, b.top+b.height/2];})()")
        if not box:
            raise LookupError(f"no element {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def press(self, key: str, code: int) -> None:
        """A key press (down, up) on the focused element, e.g. ("ArrowDown", 40)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                 "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code})

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

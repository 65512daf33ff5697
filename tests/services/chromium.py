"""Headless Chromium for the tests, driven with the standard library only.

- `ensure_chromium()` returns the path of Debian's `chromium` and installs the package with
  apt-get when it is missing (the test setup, like the other services' downloads).
- `Browser()` starts `chromium --headless --remote-debugging-port=0` in a temporary profile and
  talks to it over the DevTools protocol (a small websocket client on `socket`, RFC 6455): it
  records every request the page makes (Network.requestWillBeSent), console errors
  (Runtime.consoleAPICalled), uncaught exceptions (Runtime.exceptionThrown), log entries
  (Log.entryAdded) and dialogs (Page.javascriptDialogOpening).

    python -m tests.services.chromium screenshot PAGE.html OUT.png [WIDTH HEIGHT]
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

APT_PACKAGE = "chromium"


class BrowserError(Exception):
    pass


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium():
    """The chromium binary; installs Debian's package (apt-get, as root) when missing."""
    path = find_chromium()
    if path:
        return path
    if not shutil.which("apt-get"):
        raise BrowserError("chromium is not installed and there is no apt-get to install it: "
                           "install a Chromium and put `chromium` on PATH")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", APT_PACKAGE]):
        r = subprocess.run(sudo + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=env)
        if r.returncode != 0:
            raise BrowserError("`%s` failed (exit %d):\n%s" % (
                " ".join(sudo + cmd), r.returncode, r.stdout[-3000:]))
    path = find_chromium()
    if not path:
        raise BrowserError("apt-get installed %s but no chromium binary is on PATH" % APT_PACKAGE)
    return path


class _WebSocket(object):
    """A minimal RFC 6455 client: text frames, masked as a client must, fragments joined."""

    def __init__(self, url, timeout=30):
        assert url.startswith("ws://"), url
        hostport, _, path = url[len("ws://"):].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.sock.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key)
                           ).encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BrowserError("the DevTools websocket closed during the handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise BrowserError("websocket handshake refused: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise BrowserError("the DevTools websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode("utf-8")
        n = len(data)
        header = bytearray([0x81])
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes(header) + mask + masked)

    def recv(self):
        parts = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise BrowserError("the DevTools websocket was closed by the browser")
            if opcode == 0x9:  # ping: answer with a pong (masked, empty)
                self.sock.sendall(b"\x8a\x80" + os.urandom(4))
                continue
            if opcode in (0x0, 0x1, 0x2):
                parts.append(payload)
                if b0 & 0x80:
                    return b"".join(parts).decode("utf-8")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser(object):
    """Headless Chromium with one page, driven over DevTools.  Use as a context manager."""

    def __init__(self, width=1200, height=800, binary=None):
        self.binary = binary or ensure_chromium()
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="streamt-chromium-")
        self.events = []
        self._id = 0
        args = [self.binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--remote-debugging-port=0",
                "--remote-allow-origins=*", "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--hide-scrollbars",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        self.log_path = os.path.join(self.profile, "chromium.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self.ws = _WebSocket(self._page_ws_url())
            for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
                self.call(method)
            self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=False)
        except Exception:
            self.close()
            raise

    def _page_ws_url(self, timeout=60):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise BrowserError("chromium exited (%s):\n%s" % (self.proc.returncode,
                                                                  self.log_tail()))
            if os.path.exists(port_file):
                with open(port_file) as f:
                    port = f.read().split("\n")[0].strip()
                if port:
                    try:
                        with urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port,
                                                    timeout=5) as r:
                            targets = json.loads(r.read().decode("utf-8"))
                    except OSError:
                        targets = []
                    for t in targets:
                        if t.get("type") == "page" and t.get("webSocketDebuggerUrl"):
                            return t["webSocketDebuggerUrl"]
            time.sleep(0.2)
        raise BrowserError("chromium's DevTools did not come up in %ds:\n%s" % (
            timeout, self.log_tail()))

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def call(self, method, timeout=60, **params):
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise BrowserError("%s: %s" % (method, msg["error"]))
                return msg.get("result") or {}
            if "method" in msg:
                self.events.append(msg)
        raise BrowserError("%s: no answer in %ds" % (method, timeout))

    def wait_event(self, method, timeout=60):
        for e in self.events:
            if e["method"] == method:
                return e
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise BrowserError("no %s in %ds" % (method, timeout))

    def open(self, url):
        """Navigate and wait for the load event; the events of an earlier page are dropped."""
        self.events = []
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        self.evaluate("1")  # let the tasks queued by the load run, and collect their events

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError("evaluate %r: %s" % (expression, r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def type_text(self, selector, text):
        """Focus an input and type into it (Input.insertText fires the input events)."""
        self.evaluate("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", text=text)
        self.evaluate("1")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    # -- what the page did -----------------------------------------------------------

    def requests(self):
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def errors(self):
        out = []
        for e in self.events:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                out.append("exception: %s" % p["exceptionDetails"].get("exception", {}).get(
                    "description", p["exceptionDetails"].get("text")))
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error",
                                                                                 "assert"):
                out.append("console.%s: %s" % (p["type"], [a.get("value", a.get("description"))
                                                          for a in p.get("args", [])]))
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append("log: %s %s" % (p["entry"].get("text"), p["entry"].get("url", "")))
            elif e["method"] == "Page.javascriptDialogOpening":
                out.append("dialog: %s" % p.get("message"))
        return out

    def close(self):
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv):
    if len(argv) in (3, 5) and argv[0] == "screenshot":
        page, out = os.path.abspath(argv[1]), argv[2]
        width, height = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (1000, 620)
        with Browser(width, height) as b:
            b.open("file://" + page)
            problems = b.errors() + [u for u in b.requests() if u != "file://" + page]
            if problems:
                sys.stderr.write("the page is not clean:\n  %s\n" % "\n  ".join(problems))
                return 1
            b.screenshot(out)
        print("wrote %s (%d bytes)" % (out, os.path.getsize(out)))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A minimal W3C WebDriver client for browser tests of the web UI (stdlib only).

Drives Debian's headless Chromium through chromedriver, both started per Browser on
free loopback ports with temp folders, and stopped again by close():

    with Browser() as b:
        b.get("http://127.0.0.1:%d/" % port)
        b.find("button").click()
        b.wait(lambda: b.find("#out").text == "done", what="button result")

Environment: CHROMIUM_BIN (/usr/bin/chromium), CHROMEDRIVER_BIN (/usr/bin/chromedriver).
"""
import atexit
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

# the key under which W3C WebDriver passes element references
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"

HTTP_TIMEOUT = 60

# special keys (WebDriver code points), for Browser.keys() and Element.send_keys()
BACKSPACE = "\ue003"
TAB = "\ue004"
ENTER = "\ue007"
SHIFT = "\ue008"
CONTROL = "\ue009"
ALT = "\ue00a"
ESCAPE = "\ue00c"
ARROW_LEFT = "\ue012"
ARROW_UP = "\ue013"
ARROW_RIGHT = "\ue014"
ARROW_DOWN = "\ue015"
META = "\ue03d"
MODIFIERS = (SHIFT, CONTROL, ALT, META)

# loopback only: never send chromedriver traffic through an http_proxy from the environment
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WebDriverError(Exception):
    """An error reported by chromedriver ("no such element: ...") or a failed start."""


def available():
    """None if chromium and chromedriver are usable, else the reason as a string."""
    for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return "%s not found (%s)" % (name, path)
    try:
        p = subprocess.run([CHROMEDRIVER, "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "chromedriver does not run: %s" % e
    if p.returncode != 0:
        return "chromedriver --version failed: %s" % p.stdout.decode(errors="replace").strip()
    return None


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _call(method, url, body=None, timeout=HTTP_TIMEOUT):
    """One WebDriver request; returns the response's "value" or raises WebDriverError."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with _opener.open(req, timeout=timeout) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:  # WebDriver errors come as 4xx/5xx with a JSON body
        raw = e.read()
        if not raw:
            raise WebDriverError("HTTP %d from %s %s" % (e.code, method, url))
    except (urllib.error.URLError, OSError) as e:
        raise WebDriverError("%s %s: %s" % (method, url, e))
    try:
        value = json.loads(raw.decode("utf-8")).get("value")
    except ValueError:
        raise WebDriverError("bad response to %s %s: %r" % (method, url, raw[:300]))
    if isinstance(value, dict) and value.get("error"):
        error, message = value["error"], value.get("message") or ""
        message = message.split("\n  (Session info:")[0]  # chromedriver's trailer
        if message.startswith(error + ": "):  # chromedriver repeats the error name
            message = message[len(error) + 2:]
        raise WebDriverError("%s: %s" % (error, message))
    return value


def _kill_tagged_processes(marker):
    """SIGKILL every process whose command line mentions marker (our temp folder)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker.encode() in cmdline:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


class Element:
    """A reference to a DOM element in the browser's current page."""

    def __init__(self, browser, element_id):
        self.browser = browser
        self.id = element_id

    def _path(self, suffix=""):
        return "/element/" + self.id + suffix

    def _get(self, suffix):
        return self.browser._cmd("GET", self._path(suffix))

    def _post(self, suffix, body=None):
        return self.browser._cmd("POST", self._path(suffix), {} if body is None else body)

    def __eq__(self, other):
        return isinstance(other, Element) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return "<Element %s>" % self.id

    @property
    def text(self):
        """The rendered (visible) text."""
        return self._get("/text")

    def attr(self, name):
        """An HTML attribute (None if absent)."""
        return self._get("/attribute/" + urllib.parse.quote(name, safe=""))

    def prop(self, name):
        """A DOM property, e.g. prop("value") or prop("checked")."""
        return self.browser._wrap(self._get("/property/" + urllib.parse.quote(name, safe="")))

    def css(self, prop):
        """A computed CSS value, e.g. css("display")."""
        return self._get("/css/" + urllib.parse.quote(prop, safe=""))

    def click(self):
        self._post("/click")

    def send_keys(self, text):
        """Types text into this element (focusing it first); special keys allowed."""
        self._post("/value", {"text": text})

    def clear(self):
        self._post("/clear")

    @property
    def rect(self):
        """{"x", "y", "width", "height"} in CSS pixels, relative to the document."""
        return self._get("/rect")

    def displayed(self):
        """Whether the element is visible (WebDriver's "is displayed" check)."""
        return bool(self._get("/displayed"))

    def find(self, css):
        """The first descendant matching css, or WebDriverError (no such element)."""
        return self.browser._wrap(self._post("/element", {"using": "css selector", "value": css}))

    def find_all(self, css):
        """All descendants matching css (maybe an empty list)."""
        return self.browser._wrap(self._post("/elements", {"using": "css selector", "value": css}))


class Browser:
    """A headless Chromium session through a chromedriver of its own."""

    def __init__(self, width=1280, height=800):
        self.session = None
        self.proc = None
        self.closed = False
        self.tmp = tempfile.mkdtemp(prefix="webdriver-")
        self.profile = os.path.join(self.tmp, "profile")
        self.log_path = os.path.join(self.tmp, "chromedriver.log")
        atexit.register(self.close)
        try:
            self._start_driver()
            self._new_session(width, height)
            self.set_size(width, height)
        except BaseException:
            self.close()
            raise

    # ---- lifecycle ----

    def _start_driver(self, timeout=30):
        port = _free_port()
        self.base = "http://127.0.0.1:%d" % port
        # chromium's config/cache (crash reports too) go to our temp folder, not ~/.config
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self.tmp, "config"),
                   XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        with open(self.log_path, "ab") as log:
            # own session (process group), so close() can kill it with everything it started
            self.proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % port],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, start_new_session=True)
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise WebDriverError("chromedriver exited with %d: %s"
                                     % (self.proc.returncode, self._log_tail()))
            try:
                status = _call("GET", self.base + "/status", timeout=2)
                if status and status.get("ready"):
                    return
            except WebDriverError:
                pass  # not listening yet
            if time.time() > deadline:
                raise WebDriverError("chromedriver not ready after %ds: %s"
                                     % (timeout, self._log_tail()))
            time.sleep(0.05)

    def capabilities(self, width, height):
        """The new-session capabilities (a dict, as sent)."""
        return {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=%d,%d" % (width, height),
                         "--user-data-dir=" + self.profile],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}

    def _new_session(self, width, height):
        value = _call("POST", self.base + "/session", self.capabilities(width, height))
        self.session = value["sessionId"]
        self.caps = value.get("capabilities", {})

    def _log_tail(self, n=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def close(self):
        """Ends the session, stops chromedriver and the browser, removes temp dirs.
        Safe to call more than once."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        if self.session:
            try:
                _call("DELETE", "%s/session/%s" % (self.base, self.session), timeout=20)
            except WebDriverError:
                pass
            self.session = None
        if self.proc:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                except OSError:
                    pass
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            try:  # whatever is left of the group (also after chromedriver itself exited)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            if self.proc.poll() is None:
                self.proc.wait(5)
            self.proc = None
        # browser processes outside the group (chrome_crashpad_handler starts its own session)
        _kill_tagged_processes(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- plumbing ----

    def _cmd(self, method, path, body=None):
        if not self.session:
            raise WebDriverError("no session (browser closed)")
        return self._wrap(_call(method, "%s/session/%s%s" % (self.base, self.session, path), body))

    def _wrap(self, value):
        """Turns element references in a response into Element objects (recursively)."""
        if isinstance(value, list):
            return [self._wrap(v) for v in value]
        if isinstance(value, dict):
            if ELEMENT_KEY in value:
                return Element(self, value[ELEMENT_KEY])
            return {k: self._wrap(v) for k, v in value.items()}
        return value

    def _unwrap(self, value):
        """Turns Element arguments into element references (recursively)."""
        if isinstance(value, Element):
            return {ELEMENT_KEY: value.id}
        if isinstance(value, (list, tuple)):
            return [self._unwrap(v) for v in value]
        if isinstance(value, dict):
            return {k: self._unwrap(v) for k, v in value.items()}
        return value

    # ---- navigation, window ----

    def get(self, url):
        """Navigates and waits for the page load to finish."""
        self._cmd("POST", "/url", {"url": url})

    @property
    def url(self):
        return self._cmd("GET", "/url")

    @property
    def title(self):
        return self._cmd("GET", "/title")

    def set_size(self, width, height):
        """Sets the window size so that window.innerWidth == width."""
        self._cmd("POST", "/window/rect", {"width": width, "height": height})
        inner = self.script("return window.innerWidth")
        if inner != width:  # window decorations: compensate once
            rect = self._cmd("GET", "/window/rect")
            self._cmd("POST", "/window/rect",
                      {"width": rect["width"] + width - inner, "height": height})

    # ---- scripts ----

    def script(self, js, *args):
        """Runs js as a function body (use `return`, arguments[i]); returns its value."""
        return self._cmd("POST", "/execute/sync", {"script": js, "args": self._unwrap(args)})

    def async_script(self, js, *args):
        """Runs js with a callback as the last argument; returns what it is called with."""
        return self._cmd("POST", "/execute/async", {"script": js, "args": self._unwrap(args)})

    # ---- elements ----

    def find(self, css):
        """The first element matching css, or WebDriverError (no such element)."""
        return self._cmd("POST", "/element", {"using": "css selector", "value": css})

    def find_all(self, css):
        """All elements matching css (maybe an empty list)."""
        return self._cmd("POST", "/elements", {"using": "css selector", "value": css})

    def active(self):
        """The focused element (document.activeElement)."""
        return self._cmd("GET", "/element/active")

    def wait(self, fn, timeout=15, what="condition"):
        """Polls fn() every 0.1 s until it returns something truthy, and returns that.
        A WebDriverError inside fn counts as not yet; TimeoutError after timeout seconds."""
        deadline = time.time() + timeout
        while True:
            try:
                value = fn()
                if value:
                    return value
            except WebDriverError:
                pass
            if time.time() >= deadline:
                raise TimeoutError("timed out waiting for %s" % what)
            time.sleep(0.1)

    def wait_css(self, css, timeout=15):
        """Waits for an element matching css to exist and be displayed; returns it."""
        def shown():
            e = self.find(css)
            return e if e.displayed() else None
        return self.wait(shown, timeout, what="%r displayed" % css)

    # ---- input, output ----

    def keys(self, text):
        """Types text into the focused element via the Actions API, one key down/up per
        character; SHIFT/CONTROL/ALT/META stay pressed until repeated or the end."""
        actions, held = [], []
        for ch in text:
            if ch in MODIFIERS:
                if ch in held:
                    held.remove(ch)
                    actions.append({"type": "keyUp", "value": ch})
                else:
                    held.append(ch)
                    actions.append({"type": "keyDown", "value": ch})
                continue
            actions.append({"type": "keyDown", "value": ch})
            actions.append({"type": "keyUp", "value": ch})
        for ch in reversed(held):
            actions.append({"type": "keyUp", "value": ch})
        self._cmd("POST", "/actions",
                  {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def screenshot(self, path):
        """Saves a PNG of the viewport to path (creating parent folders)."""
        png = base64.b64decode(self._cmd("GET", "/screenshot"))
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return path

    def logs(self):
        """Browser console entries since the last call ({"level", "message", "timestamp"}),
        or [] if this chromedriver does not offer them."""
        try:
            return self._cmd("POST", "/se/log", {"type": "browser"}) or []
        except WebDriverError:
            return []

#!/usr/bin/env python3
"""Drives a real headless chromium through the DevTools protocol over a pipe (no websocket,
nothing beyond the standard library): opens URL, evaluates the JavaScript expression UNTIL
every half second until it is true, then prints the value of REPORT (a JavaScript expression
giving JSON-able data) as one JSON line and, with --screenshot, saves a PNG of the page.

  drive.py URL --until EXPR --report EXPR [--screenshot PNG] [--timeout SECONDS]

Exits 0 once UNTIL held, 1 on timeout (the report is printed either way), 2 on a browser
failure. The browser is killed on every exit.
"""
import argparse, base64, json, os, shutil, subprocess, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("--until", required=True)
parser.add_argument("--report", required=True)
parser.add_argument("--screenshot")
parser.add_argument("--timeout", type=float, default=60)
parser.add_argument("--size", default="1280,1000")
args = parser.parse_args()

browser = shutil.which("chromium") or shutil.which("chromium-browser")
if not browser:
    print("drive.py: no chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
    sys.exit(2)

to_browser_r, to_browser_w = os.pipe()
from_browser_r, from_browser_w = os.pipe()

def wire():
    os.dup2(to_browser_r, 3)
    os.dup2(from_browser_w, 4)

profile = f"/tmp/netns-chromium-{os.getpid()}"
process = subprocess.Popen(
    [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
     f"--user-data-dir={profile}", "--remote-debugging-pipe", f"--window-size={args.size}", "about:blank"],
    pass_fds=(3, 4), preexec_fn=wire, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_browser_r)
os.close(from_browser_w)
deadline = time.monotonic() + args.timeout
pending = b""
next_id = 0


def finish(code):
    process.kill()
    process.wait()
    shutil.rmtree(profile, ignore_errors=True)
    sys.exit(code)


def call(method, params=None, session=None):
    """Sends one command and returns its result, skipping the events in between."""
    global next_id, pending
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_browser_w, json.dumps(message).encode() + b"\0")
    while True:
        while b"\0" in pending:
            raw, pending = pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
        if time.monotonic() > deadline + 30:
            raise RuntimeError(f"{method}: no answer from the browser")
        chunk = os.read(from_browser_r, 1 << 20)
        if not chunk:
            raise RuntimeError("the browser closed its pipe")
        pending += chunk


def evaluate(session, expression):
    result = call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    if "exceptionDetails" in result:
        raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
    return result["result"].get("value")


try:
    target = call("Target.createTarget", {"url": args.url})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    held = False
    while time.monotonic() < deadline:
        try:
            held = bool(evaluate(session, args.until))
        except RuntimeError:
            held = False  # the page is still loading
        if held:
            break
        time.sleep(0.5)
    print(json.dumps(evaluate(session, args.report)), flush=True)
    if args.screenshot:
        shot = call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        with open(args.screenshot, "wb") as out:
            out.write(base64.b64decode(shot["data"]))
    finish(0 if held else 1)
except RuntimeError as error:
    print(f"drive.py: {error}", file=sys.stderr)
    finish(2)

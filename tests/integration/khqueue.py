"""khqueue: helpers for the queue_v1 tests (Paperclip's file queue).

  QueueDir     a temporary queue directory with request/response helpers
  keyhole_queue()  a Keyhole fixture serving that directory (no HTTP)
  Gateway      keyhole-gateway (or Paperclip's own gateway under node)
               started on a queue directory, killed at cleanup
"""

import json
import os
import signal
import subprocess
import time
import uuid

import khtest


def new_id():
    return str(uuid.uuid4())


class QueueDir:
    def __init__(self, tc, path=None):
        self.tc = tc
        self.path = path or os.path.join(khtest.make_tempdir(tc), "q")
        os.makedirs(self.path, exist_ok=True)
        os.chmod(self.path, 0o755)

    def sub(self, *parts):
        return os.path.join(self.path, *parts)

    def request_path(self, rid):
        return self.sub("requests", rid + ".json")

    def envelope(self, rid, method="GET", path="/api/agents/me", query="",
                 headers=None, body="", **extra):
        env = {"id": rid, "method": method, "path": path, "query": query,
               "headers": headers if headers is not None else {},
               "body": body, "createdAt": "2026-01-01T00:00:00.000Z"}
        env.update(extra)
        return env

    def put_raw(self, rid_or_name, data, name=None):
        """Write bytes as requests/<name> the way a gateway does: .tmp
        then rename."""
        name = name or (rid_or_name + ".json")
        final = self.sub("requests", name)
        tmp = final + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, final)
        return final

    def put(self, env):
        return self.put_raw(env["id"], json.dumps(env).encode())

    def response_path(self, rid):
        return self.sub("responses", rid + ".json")

    def wait_response(self, rid, timeout=5.0, keep=False):
        """Wait for responses/<rid>.json; returns the parsed envelope."""
        path = self.response_path(rid)

        def ready():
            try:
                with open(path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
        data = khtest.wait_until(ready, timeout, "response file %s" % path, interval=0.005)
        if not keep:
            os.unlink(path)
        return json.loads(data)

    def no_response(self, rid, settle=0.5):
        time.sleep(settle)
        return not os.path.exists(self.response_path(rid))

    def listing(self, sub):
        return sorted(os.listdir(self.sub(sub)))


def response_body(resp):
    """The decoded body bytes of a response envelope."""
    import base64
    if resp.get("bodyEncoding") == "base64":
        return base64.b64decode(resp["body"], validate=True)
    return resp["body"].encode("utf-8")


def keyhole_queue(tc, upstream_url, queue, args=(), **kw):
    """keyhole serve --queue-dir (no HTTP listener unless listen= given)."""
    kw.setdefault("listen", None)
    return khtest.Keyhole(tc, upstream_url, args=["--queue-dir", queue.path] + list(args), **kw)


class Gateway:
    """An in-sandbox gateway process on a queue directory.

    argv: the command (keyhole-gateway, or node + Paperclip's gateway);
    env: PAPERCLIP_BRIDGE_* for it.  Waits for the gateway's ready.json.
    """

    def __init__(self, tc, argv, queue, token, env=None, wait=True):
        self.tc = tc
        self.queue = queue
        self.token = token
        d = khtest.make_tempdir(tc)
        self.log_path = os.path.join(d, "gateway.log")
        e = {k: v for k, v in os.environ.items() if not k.startswith("PAPERCLIP_")}
        e.update({"PAPERCLIP_BRIDGE_QUEUE_DIR": queue.path,
                  "PAPERCLIP_BRIDGE_TOKEN": token,
                  "PAPERCLIP_BRIDGE_HOST": "127.0.0.1",
                  "PAPERCLIP_BRIDGE_PORT": "0"})
        if env:
            e.update(env)
        try:
            os.unlink(queue.sub("ready.json"))
        except FileNotFoundError:
            pass
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=e)
        tc.addCleanup(self.stop)
        self.port = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=15.0):
        path = self.queue.sub("ready.json")

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("gateway exited %r:\n%s" % (self.proc.returncode, self.log()))
            try:
                with open(path) as f:
                    return json.load(f)
            except (OSError, ValueError):
                return None
        self.ready = khtest.wait_until(ready, timeout, "the gateway's ready.json")
        self.port = self.ready["port"]
        return self.ready

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def request(self, method, target, token=khtest._AUTO, **kw):
        if token is khtest._AUTO:
            token = self.token
        kw.setdefault("timeout", 10.0)
        return khtest.request(self.port, method, target, token=token, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

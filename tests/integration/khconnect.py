"""khconnect: `keyhole serve --connect CMD` (http2_v1 over a command's
stdio) for the integration tests.

  paperclip_h2_gateway()   Paperclip's own gateway (the npm package's
                           getSandboxCallbackBridgeServerSource(), under
                           node, http2_v1 mode): the command line to give
                           --connect
  keyhole_connect()        a Keyhole (khtest) serving --connect CMD with
                           the gateway on a free port; .gw_port is where
                           the agent connects
  HOSTILE                  tests/integration/h2_hostile_gateway.py, a
                           gateway that misbehaves on purpose (raw frames)
"""

import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402
from khtest import Keyhole, free_port  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(HERE, "h2_hostile_gateway.py")


def paperclip_h2_gateway():
    """Command line running Paperclip's gateway source under node."""
    from test_queue_paperclip_interop import paperclip_gateway_source
    return "exec node %s" % shlex.quote(paperclip_gateway_source())


def hostile_gateway(mode):
    return "exec %s %s %s" % (shlex.quote(sys.executable), shlex.quote(HOSTILE),
                              shlex.quote(mode))


def keyhole_connect(tc, upstream, cmd, args=(), gw_port=None, **kw):
    """keyhole serve --connect CMD --gateway-port P (no listener)."""
    port = gw_port or free_port()
    kh = Keyhole(tc, upstream.url, listen=None,
                 args=["--connect", cmd, "--gateway-port", str(port)] + list(args),
                 **kw)
    kh.gw_port = port
    return kh


def wait_gateway(kh, timeout=15.0):
    """Until the gateway answers on its port (its READY reached keyhole)."""
    kh.wait_log("connect: gateway ready", timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            khtest.Conn(kh.gw_port, timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("gateway not listening on %d:\n%s"
                                     % (kh.gw_port, kh.output_text()[-3000:]))
            time.sleep(0.05)

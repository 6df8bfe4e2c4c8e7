"""Test-session set-up shared by every test file."""

import os

# Tests talk to 127.0.0.1 only. A developer's or CI machine's proxy settings must not
# route the websockets and SDK clients used as peers (which have no loopback bypass)
# through a proxy; the proxy tests set these variables themselves.
for _name in list(os.environ):
    if _name.lower() in ("http_proxy", "https_proxy", "ws_proxy", "wss_proxy", "all_proxy", "no_proxy"):
        del os.environ[_name]

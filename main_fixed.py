"""HTTP entry: ``uvicorn main_fixed:app --host 0.0.0.0 --port 8000 --workers 1``, or ``python main_fixed.py``.

``python main_fixed.py`` listens on PORT (default 8000) and, for RunPod's load balancer, also answers
/ping and /health on PORT_HEALTH when that differs: one process, one model load.
"""

import asyncio
import os
import sys

from faceswap.http.app import create_app
from faceswap.http.connection import ConnectionLimits
from faceswap.http.server import exit_now, listen_address, serve

app = create_app()


def main() -> int:
    """Serve `app` on PORT, and its probes on PORT_HEALTH; 2 when a port variable is not a port."""
    try:
        address = listen_address(os.environ)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    settings = app.state.settings
    limits = ConnectionLimits.from_settings(settings)
    app.state.connection_limits = limits
    drain = app.state.drain
    asyncio.run(serve(app, address, settings.log_level.lower(), settings.drain_timeout, limits, drain))
    return 0


if __name__ == "__main__":
    exit_now(main())

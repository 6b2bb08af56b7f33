"""Doctor: ``python runpod_debug.py [--json]`` checks this machine; ``smoke --endpoint URL``, a server;
``deploy [--dry-run]`` creates or updates the RunPod templates and endpoints of runpod-config.yaml."""

import os
import sys

from faceswap.doctor.report import main

if __name__ == "__main__":
    if sys.argv[1:2] == ["deploy"]:
        from faceswap.deploy.command import main as deploy

        sys.exit(deploy(sys.argv[2:], os.environ))
    sys.exit(main(sys.argv[1:], os.environ))

"""Doctor: ``python runpod_debug.py [--json]`` checks this machine; ``smoke --endpoint URL``, a server."""

import os
import sys

from faceswap.doctor.report import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))

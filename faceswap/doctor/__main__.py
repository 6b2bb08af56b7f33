"""``python -m faceswap.doctor [--json]``, the same as ``python runpod_debug.py``."""

import os
import sys

from faceswap.doctor.report import main

sys.exit(main(sys.argv[1:], os.environ))

"""``python -m faceswap``: see faceswap.cli."""

import sys

from faceswap.cli import main

sys.exit(main())

"""``python -m faceswap.models download|verify|prepare``: see faceswap.models.command."""

import sys

from faceswap.models.command import main

sys.exit(main())

"""``python -m pixmux.proxy --config config.yaml``: the same as ``pixmux serve``."""

import sys

from pixmux.proxy.cli import main

sys.exit(main())

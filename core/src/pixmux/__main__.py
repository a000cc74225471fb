"""``python -m pixmux``: the same as the ``pixmux`` command."""

from pixmux._cli import main

raise SystemExit(main())

"""python -m geomrelax: the command line (see geomrelax.app.cli)."""

from .app.cli import main

raise SystemExit(main())

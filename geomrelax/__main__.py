"""python -m geomrelax: the command line (see geomrelax.cli)."""

from .cli import main

raise SystemExit(main())

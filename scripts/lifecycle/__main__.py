"""`python -m scripts.lifecycle`: see scripts.lifecycle.cli."""

from scripts.lifecycle.cli import main

raise SystemExit(main())

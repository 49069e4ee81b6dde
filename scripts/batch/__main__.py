"""`python -m scripts.batch`: see scripts.batch.cli."""

from scripts.batch.cli import main

raise SystemExit(main())

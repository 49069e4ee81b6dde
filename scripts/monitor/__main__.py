"""`python -m scripts.monitor`: see scripts.monitor.run."""

from scripts.monitor.run import main

raise SystemExit(main())

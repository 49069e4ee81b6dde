"""`python -m scripts.pipeline`: see scripts.pipeline.run."""

from scripts.pipeline.run import main

raise SystemExit(main())

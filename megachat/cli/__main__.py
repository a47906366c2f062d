"""`python -m megachat.cli`: the same entry point as the `megachat` console script."""

from megachat.cli import main

raise SystemExit(main())

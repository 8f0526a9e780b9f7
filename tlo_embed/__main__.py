"""`python -m tlo_embed ...` runs the `tlo` command."""

from tlo_embed.cli import main

raise SystemExit(main())

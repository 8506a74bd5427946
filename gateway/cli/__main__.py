"""`python -m gateway.cli`: the installed gateway (privacy_gateway)."""

from gateway.cli import main

raise SystemExit(main())

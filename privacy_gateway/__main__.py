"""`python -m privacy_gateway`."""

from privacy_gateway import main

raise SystemExit(main())

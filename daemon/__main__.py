"""`python -m daemon` is `postdesk`."""

from daemon.cli import main

raise SystemExit(main())

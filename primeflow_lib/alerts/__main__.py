"""``python -m primeflow_lib.alerts``: drain the alert outbox of a warehouse file (see
:func:`primeflow_lib.alerts.relay.main`)."""

from primeflow_lib.alerts.relay import main

raise SystemExit(main())

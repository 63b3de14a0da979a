"""``python -m datacoral``: the same as the ``datacoral`` command."""

from datacoral.cli.entry import main

raise SystemExit(main())

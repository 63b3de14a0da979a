"""The ``datacoral`` command line: thin commands over storage and the collector."""

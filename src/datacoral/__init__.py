"""The Events endpoint (``datacoral serve``) and the ``datacoral`` command line.

The tracker lives in :mod:`snowplow_tracker`; nothing here is imported by it.
"""

__version__ = "1.2.0.dev0"

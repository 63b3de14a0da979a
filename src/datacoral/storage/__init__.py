"""Where events, environments and keys are kept: SQLite or PostgreSQL behind one interface."""

from datacoral.storage.factory import open_storage as open_storage

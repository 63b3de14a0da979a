"""``datacoral load``: the JetStream stream into PostgreSQL, batch by batch, exactly once."""

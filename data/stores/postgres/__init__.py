"""PostgreSQL (optionally TimescaleDB) stores: a shared connection pool, versioned migrations, loaders."""

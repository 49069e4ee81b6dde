"""The model's lifecycle on the store: the promotion gate, promote, rollback, the versions table."""

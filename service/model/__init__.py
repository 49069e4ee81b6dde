"""The model version contract: what one version holds, its schema, the store, its aliases."""

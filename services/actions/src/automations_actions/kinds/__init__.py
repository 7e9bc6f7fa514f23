"""One module per action family; each exposes executors for its action types."""

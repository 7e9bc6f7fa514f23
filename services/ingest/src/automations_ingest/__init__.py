"""The ingest service: takes events in, publishes them to EVENTS, stores and serves them."""

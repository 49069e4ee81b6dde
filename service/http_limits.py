"""Header size and header read-time limits for the HTTP server (filled in by the limits work)."""

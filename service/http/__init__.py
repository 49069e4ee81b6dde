"""The HTTP edge: request and response bodies, API keys, body and header bounds, request ids."""

"""The HTTP adapter: the app's wiring, its routes, the error responses, middleware and the server."""

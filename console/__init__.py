"""The web side: HTTP/WebSocket endpoints and pages (softphone now; agent desk, wallboard, editor later)."""

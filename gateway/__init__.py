"""The HTTP/websocket gateway. Built by :func:`gateway.app.create_app`."""

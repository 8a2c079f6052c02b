"""The Faust stream worker. The app is built by :func:`streams.app.create_app`."""

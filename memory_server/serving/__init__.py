"""The server process: gunicorn settings and the asyncio front that reads requests whole."""

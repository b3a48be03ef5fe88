"""The memory tools as an MCP server: the catalogue, the protocol handlers, the Flask bridge."""

"""The memory tools as an MCP server: the catalogue, its protocol handlers, and the bridge to Flask."""

"""The csdesk server: settings, the MCP server assembly, transports and the CLI."""

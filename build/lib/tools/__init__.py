"""MCP tool definitions: thin adapters over store/ and agents/."""

"""The demo portfolio: generated accounts whose signals tell different retention stories."""

"""The assessment and touchpoint agents (built on store/)."""

"""Bringing a team's data in from files."""

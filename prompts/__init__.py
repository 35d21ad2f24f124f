"""Jinja2 templates for the agents, and the one loader for them."""

"""Live product events: a Segment-compatible feed checked, stored once, and rolled up into usage."""

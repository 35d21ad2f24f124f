"""Health: the signals behind an account's health, their thresholds, and stored assessments."""

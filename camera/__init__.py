"""Crowd sensing cameras: count people in regions and across lines, report per interval."""

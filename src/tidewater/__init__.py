"""tidewater: a local-first, event-driven AWS data pipeline."""

__version__ = "0.1.0"

"""Per-area CLI commands; each module exposes `commands`."""

"""The training-site kiosk daemon: cards, QR codes and faces in; signed, offline-first attendance out."""

__version__ = "0.1.0"

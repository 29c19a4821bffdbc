"""The kiosk's brain: state machine and the scan -> identify -> verify -> record controller."""

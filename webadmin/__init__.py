"""The web panel, JSON API, WebSocket hub, /healthz and /metrics, served by Tornado."""

"""The box itself: lifecycle, wiring, configuration, state directory, web server, metrics, users, audit, backup."""

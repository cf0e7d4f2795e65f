"""The ``hotline`` command: one module per subcommand group, registered in one list (cli/main.py)."""

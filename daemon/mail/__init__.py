"""Mail from the box: one SMTP sender (the ``mail:`` settings) and the outbox that retries what did not go."""

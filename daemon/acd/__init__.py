"""ACD: queues, agents, routing strategies, wait estimates, callbacks."""

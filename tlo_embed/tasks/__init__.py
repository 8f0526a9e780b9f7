"""The task layer: registry, jobs and queues, workers. Every state change is a turn."""

"""The system's own tables and repositories (tasks, steps, results, outbox, dead letters)."""

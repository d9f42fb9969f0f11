"""Worker processes: Celery tasks (thin adapters) and the fleet definition reader."""

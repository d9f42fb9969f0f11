"""Celery plumbing: the app, its configuration, queues, the result backend and the worker fleet
file.
"""

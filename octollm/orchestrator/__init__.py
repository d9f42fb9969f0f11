"""Orchestration: plan -> canvas, dispatch through the outbox, run steps, finalize, reconcile."""

"""Answering: integrate step outputs into one answer, verify, repair or replan, conclude."""

"""Capability tokens: issued for every step, reaction and webhook message, and admitted on
delivery.
"""

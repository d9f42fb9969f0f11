"""Recovery: re-driving, the reconciler, dead letters, leases, the outcome journal and poison
isolation.
"""

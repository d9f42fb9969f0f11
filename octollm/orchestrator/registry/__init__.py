"""The arm registry: the catalog of capabilities, the live directory of pools, and capability
scoring.
"""

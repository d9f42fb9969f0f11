"""The task engine: a task's DAG from submit through expansion, dispatch and step runs to its
result.
"""

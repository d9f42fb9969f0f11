"""The Judge arm's validation layers, one module each.

``issues`` (the verdict's vocabulary), ``artefact`` (what is judged, gathered from the input and
the dependency outputs), ``syntax``, ``names``, ``lint``, ``security``, ``execution``,
``schema``, ``criteria`` (deterministic acceptance checks) and ``llm_criteria`` (the optional
LLM yes/no per criterion). :mod:`octollm.arms.judge` runs them in order.
"""

"""The ``octollm`` command line."""

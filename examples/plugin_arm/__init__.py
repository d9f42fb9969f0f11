"""An example plugin-arm package (see ``arms.py``)."""

"""Adapters to language models: an OpenAI-compatible HTTP client implementing ``ChatLLM``."""

from octollm.llm.client import OpenAIChatClient, client_from_settings
from octollm.llm.structured import extract_json_object

__all__ = ["OpenAIChatClient", "client_from_settings", "extract_json_object"]

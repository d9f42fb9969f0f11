"""What a running arm can reach: other arms, tenant-bound collaborators, LLM providers."""

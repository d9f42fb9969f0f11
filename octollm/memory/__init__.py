"""The arms' shared memory: adapters over Redis, Qdrant and the Postgres knowledge graph.

    embeddings  Embedder protocol; all-MiniLM-L6-v2 offline; an OpenAI-compatible endpoint
    vectors     Qdrant collections (local mode or a server): upsert with payload, filtered search
    keyword     Okapi BM25 over stored chunks (pure Python, no I/O)
    knowledge   the retriever's KnowledgeBase: Embedder + Qdrant + BM25
    cache       Redis cache with namespaced keys, TTLs and SCAN pattern delete
    graph       entities and relationships; atomic batch writes; recursive-CTE traversal

This package's ``__init__`` imports nothing on purpose: ``octollm.memory.keyword`` must stay
importable without qdrant_client, redis or torch.
"""

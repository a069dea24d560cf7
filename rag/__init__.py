"""Retrieval-augmented answering: embeddings, the vector store, retrieval and grounded LLM answers."""

"""Knowledge ingestion: loaders, language-aware chunking and syncing the store and the vector index."""

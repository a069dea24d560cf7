"""Per-format text extraction for uploaded knowledge files; ``knowledge_ingest.files`` is the entry point."""

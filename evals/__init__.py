"""Eval suites for QA teams: ASR WER/CER scoring now; RAG, conversation, handoff suites later."""

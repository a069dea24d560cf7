"""The per-call voice session: turn-taking, the dialogue, transports, and the call log."""

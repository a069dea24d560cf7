"""Parts of the conversation suite (``evals/suites/conversation.py``): the scenario format, the
caller's voice, a real server for the run, one scenario as one call, and the judging."""

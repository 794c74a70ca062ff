"""Domain rules: pure deciders and the event types they emit; no I/O, no database."""

"""Stand-ins for the outside world that the demo and the tests run on 127.0.0.1 (never deployed)."""

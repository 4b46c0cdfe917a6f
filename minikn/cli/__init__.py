"""The ``minikn`` command line: argument parsing, one module per command, the API client."""

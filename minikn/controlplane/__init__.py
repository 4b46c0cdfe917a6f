"""The control plane: the ISVC store, revisions and traffic planning, status, persistence."""

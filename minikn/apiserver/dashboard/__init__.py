"""The live web dashboard: static page (``/dashboard/``) and its data endpoint."""

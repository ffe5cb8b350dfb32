"""Rich renderables shared by the headless commands and the lesson panels (no textual here)."""

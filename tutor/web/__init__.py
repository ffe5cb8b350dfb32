"""The tutor in a browser: textual-serve with a token and one progress home per learner."""

"""The web shell: the app factory, middleware, pages, texts and application keys."""

"""Session-scoped pytest fixtures that start the real services on demand."""

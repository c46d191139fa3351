"""The operator console (Textual): a live view over the same Runtime as the CLI."""

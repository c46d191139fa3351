"""Built-in skills, one module per family. Each module is a plugin (see runtime/plugins.py)."""

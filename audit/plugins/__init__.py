"""Built-in audit plug-ins; each module registers its own."""

"""The shipped release policies (YAML), addressable by name: ``smotext.load_policy("default")``."""

"""imagine: a command-line render tool for the xAI Grok Imagine video API."""

__version__ = "0.1.0"

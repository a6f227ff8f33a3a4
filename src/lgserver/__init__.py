"""lgserver: a self-hosted live-chat server for customer engagement."""

__version__ = "0.1.0"

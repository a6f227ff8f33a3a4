"""The server: the hub that ties connections, sessions and principals."""

from .hub import Authenticator, CallContext, CallFailed, Hub, Link, Principal

__all__ = ["Authenticator", "CallContext", "CallFailed", "Hub", "Link", "Principal"]

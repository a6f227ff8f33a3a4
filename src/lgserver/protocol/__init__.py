"""The sans-I/O protocol core (``docs/protocol.md``).

Nothing here touches a socket, a clock or an event loop: bytes and the
current time go in; events, bytes to send and the next deadline come out.
"""

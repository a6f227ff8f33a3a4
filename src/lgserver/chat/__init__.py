"""Chats: queues, call routing and the events they report
(``docs/chat.md``).

:mod:`lgserver.chat.routing` is sans-I/O, like the protocol core: commands
and the current time go in; events and the next deadline come out.
"""

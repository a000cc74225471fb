"""
Wire shapes that several providers speak, public for their plugins: :mod:`pixmux.dialects.openai` (and
:mod:`pixmux.dialects.openai_edits`, its multipart edits and variations).

A dialect is a set of pure functions (request in, ``httpx.Request`` out; ``httpx.Response`` in,
``ImageResponse`` or a typed error out). It never sends anything: the core does all I/O.
"""

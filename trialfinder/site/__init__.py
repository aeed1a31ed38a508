"""The static patient site, read from the database only.

`view` builds the whole view model once (display-ready studies, recent changes, filter choices, header facts);
`render` writes it as pages (staged, then published atomically; the studies' files shared out among forked copies
of the process on a machine with more cores, `forked`); `feeds` writes the Atom feeds.
"""

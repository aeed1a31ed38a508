"""E-mail: change digests and the subscribers who get them, read from the database only.

`digest` (a window of events as text, Markdown or e-mail safe HTML), `subscribers` (sign-ups, cursors, deliveries),
`mailer` (messages and SMTP), `delivery` (each due subscriber's digest, exactly once after the server accepts it)
and `webapp` (the /subscribe, /confirm and /unsubscribe pages).
"""

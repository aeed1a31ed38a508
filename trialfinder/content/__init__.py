"""Shipped words of our own: glossary.toml (the plain definitions every page links to) and about/ (the default
"About WHIM syndrome and trials" pages, Markdown that an operator may replace through [site] content_dir)."""

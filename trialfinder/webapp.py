"""The WSGI entry point deployments name: `trialfinder.webapp:app_from_env` (the app itself is `mail.webapp`)."""

from trialfinder.mail.webapp import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]

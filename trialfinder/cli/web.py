"""`trialfinder serve`: preview the rendered site with the subscribe, confirm and unsubscribe pages.

Werkzeug's development server, for a preview on your own machine; in production run the same app
(`trialfinder.mail.webapp:app_from_env`) under a WSGI server such as waitress or gunicorn (see README).
"""

from __future__ import annotations

import click

from trialfinder.cli.common import AppContext


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the rendered site ([site] out_dir) and /subscribe, /confirm, /unsubscribe until Ctrl-C.

    A preview server (Werkzeug's); for production use a WSGI server, e.g.
    `waitress-serve --call trialfinder.mail.webapp:app_from_env` with TRIALFINDER_CONFIG set.
    """
    from werkzeug.serving import run_simple

    from trialfinder.mail.webapp import create_app

    app: AppContext = ctx.obj
    wsgi = create_app(app.config, engine=app.engine)
    click.echo(f"serving {app.config.resolve_path(app.config.site.out_dir)} on http://{host}:{port}/ "
               "(subscribe at /subscribe); Ctrl-C stops", err=True)  # fmt: skip
    run_simple(host, port, wsgi, use_reloader=False, use_debugger=False, threaded=True)

"""Config loading: the shipped config.toml is the documented defaults, env overrides, and one-line errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import Project
from trialfinder.config import SECTIONS, Config, ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_documents_every_key_with_its_default() -> None:
    shipped = load_config(REPO / "config.toml", environ={})
    defaults = Config()
    for name in SECTIONS:
        assert getattr(shipped, name) == getattr(defaults, name) or name == "database", name
    assert shipped.searches == defaults.searches
    text = (REPO / "config.toml").read_text()
    for name, cls in SECTIONS.items():
        assert f"[{name}]" in text
        for field in dataclasses.fields(cls):
            assert f"\n{field.name} = " in text, f"config.toml does not document {name}.{field.name}"


def test_env_overrides_and_relative_database_path(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[database]\nurl = "sqlite:///data/tf.db"\n')
    config = load_config(path, environ={"TRIALFINDER_API_URL": "http://127.0.0.1:9/api/v2"})
    assert config.api.base_url == "http://127.0.0.1:9/api/v2"
    assert config.database.url == f"sqlite:///{tmp_path.resolve()}/data/tf.db"
    env = {"TRIALFINDER_CONFIG": str(path), "TRIALFINDER_DATABASE_URL": "sqlite:////tmp/elsewhere.db"}
    assert load_config(environ=env).database.url == "sqlite:////tmp/elsewhere.db"


def test_searches_accept_quoted_or_dotted_parameter_names(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[searches]]\nname = "a"\nlabel = "A"\nquery.cond = "x"\n'
                    '[[searches]]\nname = "b"\nlabel = "B"\n"query.term" = "y"\n')
    config = load_config(path, environ={})
    assert [s.params for s in config.searches] == [{"query.cond": "x"}, {"query.term": "y"}]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[api]\npagesize = 10\n", "line 2: unknown key 'api.pagesize'; known: backoff_s"),
        ("[api]\npage_size = \"ten\"\n", "line 2: 'api.page_size' must be a whole number, not 'ten'"),
        ("[api]\ntimeout_s = true\n", "line 2: 'api.timeout_s' must be a number, not True"),
        ("[api]\nmax_retries = -1\n", "line 2: 'api.max_retries' must not be negative"),
        ("[apii]\nx = 1\n", "line 1: unknown section or key; known: api, database"),
        ("[api\nx = 1\n", "not valid TOML: "),
        ('[[searches]]\nname = "x"\nlabel = "X"\n"filter.phase" = "PHASE3"\n',
         "line 4: search 'x': unknown API parameter 'filter.phase'"),
        ('[[searches]]\nname = "x"\nlabel = "X"\n', "search 'x' sets no query parameter"),
        ("[site]\n[schedule]\nmisfire_grace_s = 5\nrun_cron = '61 * * * *'\n",
         "line 4: 'schedule.run_cron' is not a valid cron expression '61 * * * *'"),
        ('[[searches]]\nname = "Bad Name"\nlabel = "X"\n"query.term" = "y"\n', "must be lower-case"),
        ("[relevance]\nshown_tiers = 4\n", "line 2: 'relevance.shown_tiers' must be 1, 2 or 3, not 4"),
        ('[relevance]\nwhim_terms = ["WHIM", " "]\n', "line 2: 'relevance.whim_terms' must not hold an empty term"),
        ("[site]\nrender_processes = 65\n", "line 2: 'site.render_processes' must be between 0 and 64"),
    ],
)
def test_bad_config_is_a_one_line_error_naming_key_and_line(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_cli_bad_config_exits_2_with_one_line(project: Project) -> None:
    project.config_path.write_text("[api]\nbase_ur = 'x'\n")
    result = project.cli("sync", expect=2)
    assert result.stderr.count("\n") == 1
    assert "line 2: unknown key 'api.base_ur'" in result.stderr
    assert not (project.path / "trialfinder.db").exists()


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", environ={})


def test_a_multi_line_site_title_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[site]\nout_dir = "site"\ntitle = """WHIM\nBcc: x@example.org"""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.toml line 3: 'site.title' must be one line"):
        load_config(path)


def test_the_default_cron_expressions_are_valid() -> None:
    """ScheduleConfig spares APScheduler's import for its defaults; this keeps them parseable as the scheduler will."""
    from apscheduler.triggers.cron import CronTrigger

    from trialfinder.config_sections import ScheduleConfig

    defaults = ScheduleConfig()
    for expression in (defaults.run_cron, defaults.full_cron):
        assert CronTrigger.from_crontab(expression, timezone="UTC").fields

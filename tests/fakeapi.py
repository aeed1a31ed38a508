"""The tests' fake ClinicalTrials.gov API: a re-export of the stand-in that lives in the package
(`trialfinder/standin/server.py`), so the tests and `trialfinder demo` share one server."""

from trialfinder.standin.http import API_PREFIX
from trialfinder.standin.server import FAULT_KINDS, FakeCtGov, LoggedRequest

__all__ = ["API_PREFIX", "FAULT_KINDS", "FakeCtGov", "LoggedRequest"]

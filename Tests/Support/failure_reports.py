"""A pytest hook and a check that let a fixture tell whether its test failed, so it can print its server's log
then. A suite's conftest imports both (`from failure_reports import pytest_runtest_makereport, test_failed`)."""

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item (`rep_setup`, `rep_call`)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def test_failed(request) -> bool:
    """Whether the test of fixture `request` failed in its setup or its body."""
    return any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False) for when in ("setup", "call"))


test_failed.__test__ = False  # not a test, whatever its name

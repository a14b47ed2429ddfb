"""Tasks by name and the retry rule: permanent errors are not retried."""

from unittest import mock

import pytest
from celery import current_app
from celery.exceptions import Retry

from fulfillment import queue, tasks
from orderhub.adapters import AdapterError, AdapterPermanentError


def test_a_registered_task_is_queued_through_its_own_delay():
    with mock.patch.object(tasks.automate_orders, "delay") as delay:
        queue.enqueue("fulfillment.tasks.automate_orders", [1, 2])
    delay.assert_called_once_with([1, 2])


def test_an_unknown_task_is_sent_by_name():
    with mock.patch.object(current_app, "send_task") as send:
        queue.enqueue("elsewhere.tasks.not_loaded_here", 7)
    send.assert_called_once_with("elsewhere.tasks.not_loaded_here", args=[7])


def test_a_task_whose_module_is_not_loaded_yet_is_imported_and_runs_as_configured(
        tmp_path, monkeypatch):
    # given a tasks module nothing in this process has imported, and eager mode
    package = tmp_path / "late_tasks_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "from celery import shared_task\n"
        "CALLS = []\n\n\n"
        "@shared_task(name='late_tasks_pkg.tasks.job')\n"
        "def job(value):\n"
        "    CALLS.append(value)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)
    # when it is queued by name
    with mock.patch.object(current_app, "send_task") as send:
        queue.enqueue("late_tasks_pkg.tasks.job", 3)
    # then it ran here as the configuration says (send_task would have ignored eager mode)
    import late_tasks_pkg.tasks as late

    assert late.CALLS == [3]
    send.assert_not_called()


@pytest.mark.parametrize("error", [AdapterError("busy"), RuntimeError("db blip")])
def test_a_retryable_failure_is_retried_with_backoff(error):
    with mock.patch.object(tasks.reprocess_order, "retry", side_effect=Retry) as retry, \
            mock.patch("fulfillment.services.automation.order_reprocess_after_edit",
                       side_effect=error), pytest.raises(Retry):
        tasks.reprocess_order.run(5)
    assert retry.call_args.kwargs["exc"] is error
    assert retry.call_args.kwargs["countdown"] >= 1


def test_a_permanent_failure_is_not_retried():
    error = AdapterPermanentError("refused")
    with mock.patch.object(tasks.reprocess_order, "retry") as retry, \
            mock.patch("fulfillment.services.automation.order_reprocess_after_edit",
                       side_effect=error), pytest.raises(AdapterPermanentError):
        tasks.reprocess_order.run(5)
    retry.assert_not_called()

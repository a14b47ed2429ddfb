"""Tasks by name and the retry rule: permanent errors are not retried."""

from unittest import mock

import pytest
from celery.exceptions import Retry

from fulfillment import queue, tasks
from orderhub.adapters import AdapterError, AdapterPermanentError


def test_a_registered_task_is_queued_through_its_own_delay():
    with mock.patch.object(tasks.automate_orders, "delay") as delay:
        queue.enqueue("fulfillment.tasks.automate_orders", [1, 2])
    delay.assert_called_once_with([1, 2])


def test_an_unknown_task_is_sent_by_name():
    with mock.patch.object(queue.current_app, "send_task") as send:
        queue.enqueue("elsewhere.tasks.not_loaded_here", 7)
    send.assert_called_once_with("elsewhere.tasks.not_loaded_here", args=[7])


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

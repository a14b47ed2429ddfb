"""Message templates: validated at save, rendered with a restricted context."""

import pytest
from django.core.exceptions import ValidationError

from fulfillment.notifications.models import EVENT_VARIABLES, MessageTemplate
from fulfillment.notifications.rendering import render_text, used_variables
from fulfillment.notifications.services import render_event

pytestmark = pytest.mark.django_db


def _template(**fields):
    defaults = {"event": "shipped", "audience": "buyer", "language": "en"}
    MessageTemplate.objects.filter(**{k: fields.get(k, v) for k, v in defaults.items()}).delete()
    return MessageTemplate(**{**defaults, **fields})


def test_unknown_variable_is_refused_with_a_clear_message():
    template = _template(body="Order {{ order_numbr }} shipped")
    with pytest.raises(ValidationError) as info:
        template.save()
    text = str(info.value.message_dict["body"])
    assert "order_numbr" in text and "tracking_number" in text
    assert not MessageTemplate.objects.filter(event="shipped", language="en").exists()


def test_syntax_error_is_refused():
    template = _template(body="Order {{ order_number|nosuchfilter }}")
    with pytest.raises(ValidationError) as info:
        template.full_clean()
    assert "syntax" in str(info.value.message_dict["body"]).lower()


@pytest.mark.parametrize("body", ["{% load static %}x", "{% include 'base.html' %}",
                                  "{% if order_number %}x{% endif %}",
                                  "{{ settings.SECRET_KEY }}"])
def test_tags_and_outside_variables_are_refused(body):
    with pytest.raises(ValidationError):
        _template(body=body).save()


def test_unknown_variable_in_a_filter_argument_is_refused():
    with pytest.raises(ValidationError):
        _template(body="{{ carrier|default:secret }}").save()


def test_valid_template_saves_and_renders():
    template = _template(body="{{ shop }}: {{ order_number }} via {{ carrier|upper }} "
                              "{{ tracking_number }}")
    template.save()
    text = render_text(template.body, {"shop": "S&M", "order_number": "H1", "carrier": "sf",
                                       "tracking_number": "SF123", "other": "x"},
                       template.variables)
    # Plain text: no HTML escaping in an SMS.
    assert text == "S&M: H1 via SF SF123"


def test_buyer_templates_only_for_buyer_events():
    with pytest.raises(ValidationError):
        _template(event="stock_low", audience="buyer", body="{{ sku_code }}").save()


def test_default_templates_exist_in_both_languages_and_are_valid():
    for event in EVENT_VARIABLES:
        rows = MessageTemplate.objects.filter(event=event)
        assert set(rows.values_list("language", flat=True)) == {"zh-hans", "en"}, event
        for template in rows:
            template.full_clean()


def test_render_event_uses_the_language_and_lists_aliyun_params():
    rendered = render_event("shipped", "buyer", "zh-hans", {
        "shop": "店", "order_number": "H1", "carrier": "顺丰", "tracking_number": "SF1",
        "buyer_name": "张三"})
    assert "SF1" in rendered.body and "已发货" in rendered.body
    assert rendered.params == {"shop": "店", "order_number": "H1", "carrier": "顺丰",
                               "tracking_number": "SF1"}
    english = render_event("shipped", "buyer", "en", {"order_number": "H1",
                                                      "tracking_number": "SF1"})
    assert "has shipped" in english.body


def test_render_event_falls_back_without_templates():
    MessageTemplate.objects.filter(event="stock_low").delete()
    rendered = render_event("stock_low", "team", "en", {"sku_code": "CUP-1", "available": 0})
    assert "CUP-1" in rendered.body


def test_used_variables():
    assert used_variables("{{ a }} {{ b|default:c }} {{ a }}") == ["a", "b", "c"]


def test_unclosed_braces_are_refused():
    with pytest.raises(ValidationError) as info:
        _template(body="Order {{ order_number").save()
    assert "closed" in str(info.value.message_dict["body"])

"""``{{ value|stored_text }}``: a stored system text in the viewer's language."""

from django import template

from orderhub.stored_text import translate_change_reason, translate_stored

register = template.Library()


@register.filter(name="stored_text")
def stored_text(value):
    return translate_stored(value)


@register.filter(name="change_reason")
def change_reason(value):
    return translate_change_reason(value)

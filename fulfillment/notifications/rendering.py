"""Rendering message templates with a restricted context.

Templates are written by admins, so they get a sandboxed engine: no loaders,
no ``{% load %}``/``{% include %}``, only plain variables (with the built-in
filters) and text. Each event names the variables it offers; anything else is
refused when the template is saved, with a message saying what is wrong.
"""

from __future__ import annotations

from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import TextNode, VariableNode
from django.utils.translation import gettext as _

# No loaders and no extra libraries; autoescape off: SMS and robot text is not HTML.
ENGINE = Engine(loaders=[], libraries={}, autoescape=False, debug=False)


class TemplateProblem(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _variables_of(node: VariableNode) -> list[str]:
    names = []
    expr = node.filter_expression
    var = getattr(expr.var, "var", None)
    if isinstance(var, str):
        names.append(var.split(".")[0])
    for _func, args in expr.filters:
        for is_var, arg in args:
            if is_var and isinstance(getattr(arg, "var", None), str):
                names.append(arg.var.split(".")[0])
    return names


def check_template(text: str, allowed: tuple[str, ...] | list[str]) -> Template:
    """Compile ``text``; raise ``TemplateProblem`` for a syntax error or an unknown variable."""
    try:
        template = Template(text, engine=ENGINE)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(_("Template syntax error: %(error)s") % {"error": exc}) from exc
    for node in template.nodelist:
        if isinstance(node, TextNode):
            if "{{" in node.s or "{%" in node.s:
                raise TemplateProblem(_("Template syntax error: a “{{” or “{%” is not "
                                        "closed."))
            continue
        if not isinstance(node, VariableNode):
            raise TemplateProblem(_(
                "Only {{ variables }} are allowed here, not tags like {%% … %%} (%(tag)s)."
            ) % {"tag": type(node).__name__.removesuffix("Node").lower()})
        unknown = [name for name in _variables_of(node) if name not in allowed]
        if unknown:
            raise TemplateProblem(_(
                "Unknown variable “%(name)s”. This event offers: %(allowed)s."
            ) % {"name": unknown[0], "allowed": ", ".join(allowed) or "—"})
    return template


def render_text(text: str, context: dict, allowed: tuple[str, ...] | list[str]) -> str:
    """Render ``text`` with only the ``allowed`` keys of ``context`` (as strings)."""
    if not text:
        return ""
    template = check_template(text, allowed)
    safe = {key: "" if context.get(key) is None else str(context.get(key)) for key in allowed}
    return template.render(Context(safe, autoescape=False)).strip()


def used_variables(text: str) -> list[str]:
    """Variable names ``text`` uses, in order of first use (for Aliyun's TemplateParam)."""
    try:
        template = Template(text or "", engine=ENGINE)
    except TemplateSyntaxError:
        return []
    seen: list[str] = []
    for node in template.nodelist:
        if isinstance(node, VariableNode):
            for name in _variables_of(node):
                if name not in seen:
                    seen.append(name)
    return seen

"""The admin's own plain forms take the theme's classes from the site's context, per kind of input."""

from __future__ import annotations

from django import forms

from core.templatetags.admin_forms import themed

CLASSES = {"text_input": "theme-text", "checkbox": "theme-box"}


class ExampleForm(forms.Form):
    name = forms.CharField()
    agree = forms.BooleanField()
    scopes = forms.MultipleChoiceField(choices=[("a", "Alpha"), ("b", "Bravo")], widget=forms.CheckboxSelectMultiple)


def test_text_inputs_and_checkboxes_get_their_kind_of_classes() -> None:
    form = ExampleForm()

    assert 'class="theme-text"' in themed(form["name"], CLASSES)
    assert 'class="theme-box"' in themed(form["agree"], CLASSES)


def test_each_option_of_a_checkbox_list_is_a_themed_labelled_checkbox() -> None:
    html = themed(ExampleForm(initial={"scopes": ["b"]})["scopes"], CLASSES)

    assert html.count('class="theme-box"') == 2
    assert 'value="b" id="id_scopes_1" checked class="theme-box"' in html
    assert "Alpha</label>" in html and "Bravo</label>" in html
    assert html.startswith('<div id="id_scopes"')


def test_without_the_theme_the_field_renders_as_django_renders_it() -> None:
    form = ExampleForm()

    assert themed(form["name"], None) == form["name"].as_widget()

"""Date and time inputs that always speak the HTML formats, whatever the active language.

An ``<input type="date">`` accepts only ``YYYY-MM-DD`` and an ``<input type="datetime-local">`` only
``YYYY-MM-DDTHH:MM``. Django renders a form's initial value in the active locale's first input
format (``2026/12/02 04:18`` in Simplified Chinese), which the browser silently discards, so the
field shows empty and a one-word edit fails with "required". These widgets pin the format; the
fields accept the same ISO shapes in every language (Django's DateTimeField parses ISO 8601 first,
and the date field lists the ISO format first).
"""

from django import forms

HTML_DATE = "%Y-%m-%d"
HTML_DATETIME = "%Y-%m-%dT%H:%M"


class HtmlDateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=HTML_DATE)


class HtmlDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=HTML_DATETIME)


class HtmlDateField(forms.DateField):
    """A date field rendered as ``<input type="date">`` that parses the ISO date in every language."""

    widget = HtmlDateInput

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [HTML_DATE, "%Y/%m/%d"])
        super().__init__(**kwargs)


class HtmlDateTimeField(forms.DateTimeField):
    """A date-time field rendered as ``<input type="datetime-local">`` in the current time zone."""

    widget = HtmlDateTimeInput

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", [HTML_DATETIME, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])
        super().__init__(**kwargs)

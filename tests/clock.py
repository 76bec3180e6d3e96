"""A frozen clock for tests: ``frozen_at("2026-12-02T02:00+08:00")`` fixes django.utils.timezone.now.

Every reader of the current time in the project goes through ``timezone.now`` (and ``localdate`` /
``localtime``, which call it), so patching it is enough to put the whole request at one instant.
"""

import contextlib
import datetime
from unittest import mock


@contextlib.contextmanager
def frozen_at(moment: str | datetime.datetime):
    if isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment)
    instant = moment.astimezone(datetime.UTC)
    with mock.patch("django.utils.timezone.now", return_value=instant):
        yield instant

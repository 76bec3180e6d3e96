"""The embedded broker's messages become visible to workers only once written whole."""

import os

import pytest
from django.conf import settings
from kombu.exceptions import ChannelError

from config import broker
from config.celery import app

pytestmark = pytest.mark.skipif(
    getattr(settings, "CELERY_BROKER_TRANSPORT", "") != "config.broker:Transport", reason="the filesystem broker"
)


def _messages(folder: str, queue: str) -> list[str]:
    return [name for name in os.listdir(folder) if name.partition(".")[2] == f"{queue}.msg"]


def test_a_message_is_read_back_whole():
    with app.connection_for_write() as conn:
        channel = conn.channel()
        channel._put("test-whole", {"task": "x", "body": "体" * 1000})
        assert channel._get("test-whole") == {"task": "x", "body": "体" * 1000}


def test_a_publish_that_fails_part_way_leaves_nothing_for_a_worker(monkeypatch):
    def cut_off(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(broker.os, "replace", cut_off)
    with app.connection_for_write() as conn:
        folder = conn.transport_options["data_folder_out"]
        with pytest.raises(ChannelError):
            conn.channel()._put("test-cut", {"task": "x"})
        assert _messages(folder, "test-cut") == []
        assert [name for name in os.listdir(folder) if name.endswith(".part")] == []

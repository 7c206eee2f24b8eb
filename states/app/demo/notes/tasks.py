import logging
import socket

from celery import shared_task

from .models import Note

log = logging.getLogger(__name__)


@shared_task
def add_note(text):
    Note.objects.create(text=text, written_by=socket.gethostname())
    log.info("note written: %s", text)


@shared_task
def heartbeat():
    log.info("heartbeat from celery beat")

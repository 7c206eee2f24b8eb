from django.db import models


class Visit(models.Model):
    """One row per page view: the page writes to the database."""

    at = models.DateTimeField(auto_now_add=True)
    host = models.CharField(max_length=255)


class Note(models.Model):
    """Written by a celery task, read back from the replica."""

    text = models.CharField(max_length=200)
    written_by = models.CharField(max_length=255)
    at = models.DateTimeField(auto_now_add=True)

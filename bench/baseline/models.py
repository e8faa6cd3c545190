from django.db import models


class Hook(models.Model):
    sid = models.CharField(max_length=64, unique=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_sid = models.CharField(max_length=64, blank=True, default="")
    done_at = models.DateTimeField(null=True, blank=True)

import socket

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Note, Visit
from .tasks import add_note as add_note_task

READS = "replica" if "replica" in settings.DATABASES else "default"


def index(request):
    Visit.objects.create(host=socket.gethostname())
    response = render(
        request,
        "notes/index.html",
        {
            "served_by": socket.gethostname(),
            "visits": Visit.objects.count(),
            "notes": Note.objects.using(READS).order_by("-at")[:10],
            "reads_from": READS,
        },
    )
    response["X-Demo-Revision"] = settings.REVISION
    return response


@csrf_exempt
@require_POST
def add_note(request):
    """Queue a note: a celery worker writes it to the primary."""
    text = request.POST.get("text", "")
    if not text or len(text) > 200:
        return HttpResponseBadRequest("text: 1 to 200 characters\n")
    add_note_task.delay(text)
    return JsonResponse({"queued": text}, status=202)


def healthz(request):
    response = HttpResponse("ok\n", content_type="text/plain")
    response["X-Demo-Revision"] = settings.REVISION
    return response

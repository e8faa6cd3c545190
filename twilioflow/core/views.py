from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Liveness plus a trivial DB round trip, for load balancers and `make run` smoke tests."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})

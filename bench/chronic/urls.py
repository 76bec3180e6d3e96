"""The project's URLs plus the worklist benchmark's baseline: a bare view over the same rows."""

from django.db import connection
from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns

BARE_SQL = """
    SELECT f.id, f.due_on, f.status, p.name, p.village, g.name
    FROM chronic_followup f
    JOIN chronic_enrolment e ON e.id = f.enrolment_id
    JOIN records_patient p ON p.id = e.patient_id
    JOIN chronic_programme g ON g.id = e.programme_id
    WHERE e.team_id = %s AND e.status = 'enrolled' AND f.status = 'due' AND f.due_on <= %s
    ORDER BY f.due_on, f.id LIMIT 200
"""


def bare(request, team_id):
    import datetime

    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(BARE_SQL, [team_id, timezone.localdate() + datetime.timedelta(days=7)])
        rows = cursor.fetchall()
    return HttpResponse("\n".join(f"{r[3]} {r[1]}" for r in rows))


urlpatterns = [path("bench/bare/<int:team_id>/", bare), *project_urlpatterns]

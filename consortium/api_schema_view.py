"""The schema endpoint (apart from ``api_schema``: DRF imports the schema class while loading its views)."""

from django.utils import translation
from drf_spectacular.views import SpectacularAPIView


class EnglishSchemaView(SpectacularAPIView):
    """The schema in English whatever the request's language.

    A code generator names operations, models and enums from it; fetched with
    ``Accept-Language: zh-hans`` it must not turn them Chinese or change between fetches. The API's
    answers (problem messages) still follow the request's language.
    """

    def dispatch(self, request, *args, **kwargs):
        with translation.override("en"):
            response = super().dispatch(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()
        return response

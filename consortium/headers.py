"""Response headers every page and API answer carries (the CSP itself comes from django-csp's middleware).

``Cache-Control: no-store`` on everything the application renders — pages and API answers hold
patient data, and a shared clinic computer's browser cache or a proxy must keep none of it.  Static
files are answered by WhiteNoise before this middleware and keep their long cache lifetimes.
"""


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "no-store" not in response.get("Cache-Control", ""):  # never_cache's fuller header is kept
            response["Cache-Control"] = "no-store"
        response.setdefault("Pragma", "no-cache")
        return response

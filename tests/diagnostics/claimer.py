"""One reader process of the concurrent-claim test: waits for the start time, claims, prints the outcome.

Run as ``python -m tests.diagnostics.claimer MODE ORDER_OR_CENTRE_ID USERNAME START_EPOCH`` with
``DATABASE_URL`` pointing at the test database.
"""

import json
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from consortium.errors import ApplicationError
    from diagnostics import services

    mode, target, username, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    user = get_user_model().objects.get(username=username)
    time.sleep(max(0.0, start - time.time()))
    try:
        if mode == "one":
            order = services.claim_order(target, actor=user)
        else:
            order = services.claim_next(target, actor=user)
    except ApplicationError as error:
        print(json.dumps({"claimed": None, "code": error.code}))
        return
    print(json.dumps({"claimed": order.pk if order else None, "code": "ok" if order else "empty"}))


if __name__ == "__main__":
    main()

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from config.demo import seed_demo_consortium
from config.demo_data import DEMO_PASSWORD


class Command(BaseCommand):
    help = _("Load the demo consortium (deterministic; running it again changes nothing).")

    def handle(self, *args, **options):
        report = seed_demo_consortium()
        if report.total == 0:
            self.stdout.write(_("Demo consortium already loaded; nothing changed."))
        else:
            for name, count in report.created.items():
                if count:
                    self.stdout.write(f"  {name}: {count}")
            self.stdout.write(self.style.SUCCESS(_("Demo consortium loaded.")))
        self.stdout.write(_("Demo logins use the password %(password)s (see README).") % {"password": DEMO_PASSWORD})

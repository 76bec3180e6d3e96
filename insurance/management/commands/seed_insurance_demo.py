from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from insurance.demo import seed_insurance_demo


class Command(BaseCommand):
    help = _("Load demo insurance policies, office schemes, enrolments and claims (running it again changes nothing).")

    def handle(self, *args, **options):
        created = seed_insurance_demo()
        for name, count in created.items():
            self.stdout.write(f"  {name}: {count}")
        self.stdout.write(self.style.SUCCESS(_("Demo insurance data loaded.")))

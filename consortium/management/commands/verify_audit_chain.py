from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from consortium.audit_verify import verify


class Command(BaseCommand):
    help = _(
        "Verify the hash chain of the audit events and the access log: every row's seal, no row missing in the middle, "
        "none missing at the end. Exits with an error naming each broken row."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", action="append", dest="months", metavar="YYYY-MM", help=_("Only this month (repeatable)."))

    def handle(self, *args, **options):
        reports = verify(options["months"])
        broken = 0
        for report in reports:
            if report.ok and report.archived:
                self.stdout.write(
                    _("%(month)s: archived, %(rows)d rows, last seal %(seal)s")
                    % {"month": report.period, "rows": report.head_count, "seal": report.last_hash[:16]}
                )
                continue
            if report.ok:
                self.stdout.write(
                    _("%(month)s: %(rows)d rows, chain intact, last seal %(seal)s")
                    % {"month": report.period, "rows": report.rows, "seal": report.last_hash[:16]}
                )
                continue
            broken += len(report.problems)
            self.stdout.write(
                self.style.ERROR(_("%(month)s: %(rows)d rows, BROKEN") % {"month": report.period, "rows": report.rows})
            )
            for problem in report.problems:
                self.stdout.write(f"  - {problem}")
        if broken:
            raise CommandError(_("The audit chain is broken: %(count)d problems.") % {"count": broken})
        self.stdout.write(self.style.SUCCESS(_("The audit chain verifies (%(months)d months).") % {"months": len(reports)}))

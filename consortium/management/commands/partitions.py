from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from consortium import partitions


class Command(BaseCommand):
    help = _(
        "Month partitions of the append-only tables (PostgreSQL): list them, create the months ahead, "
        "archive months past retention to the file storage as gzip CSV and remove them (on SQLite: their rows)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--list",
            action="store_true",
            help=_("List every partition with its rows (estimated; counted in the default partition)."),
        )
        parser.add_argument("--ensure", action="store_true", help=_("Create the month partitions ahead."))
        parser.add_argument("--ahead", type=int, default=None, help=_("Months ahead to create (default: the setting)."))
        parser.add_argument(
            "--archive", action="store_true", help=_("Archive and remove every month past its table's retention.")
        )
        parser.add_argument(
            "--archive-older-than",
            type=int,
            metavar="MONTHS",
            help=_("Archive and remove months older than this many months (the audit tables keep at least 6)."),
        )
        parser.add_argument("--table", action="append", dest="tables", metavar="KEY", help=_("Only this table (repeatable)."))

    def handle(self, *args, **options):
        known = {spec.key for spec in partitions.partitioned_tables()}
        unknown = set(options["tables"] or ()) - known
        if unknown:
            raise CommandError(
                _("Unknown table: %(names)s (known: %(known)s)")
                % {"names": ", ".join(sorted(unknown)), "known": ", ".join(sorted(known))}
            )
        if options["archive_older_than"] is not None and options["archive_older_than"] < 1:
            raise CommandError(_("--archive-older-than takes a whole number of months, 1 or more."))
        if not (options["list"] or options["ensure"] or options["archive"] or options["archive_older_than"] is not None):
            raise CommandError(_("Say what to do: --list, --ensure, --archive or --archive-older-than."))
        if options["ensure"]:
            report = partitions.ensure_partitions(months_ahead=options["ahead"])
            self.stdout.write(
                _("%(count)d partitions created, %(moved)d rows moved out of default partitions.")
                % {"count": len(report.created), "moved": report.moved}
            )
            for name in report.created:
                self.stdout.write(f"  + {name}")
        if options["archive"] or options["archive_older_than"] is not None:
            report = partitions.apply_retention(older_than=options["archive_older_than"], keys=options["tables"])
            for month in report.archived:
                self.stdout.write(
                    _("%(table)s %(month)s: %(rows)d rows archived to %(name)s")
                    % {"table": month.key, "month": month.month, "rows": month.rows, "name": month.archive}
                )
            for held in report.held:
                self.stdout.write(
                    self.style.WARNING(
                        _("held back (unfinished rows or a chain that does not verify): %(what)s") % {"what": held}
                    )
                )
            self.stdout.write(_("%(count)d months archived.") % {"count": len(report.archived)})
        if options["list"]:
            rows = [info for info in partitions.list_partitions() if not options["tables"] or info.key in options["tables"]]
            if not rows:
                self.stdout.write(_("No partitioned table here (SQLite keeps the tables plain)."))
            for info in rows:
                state = "" if info.attached else _(" (detached, waiting to be archived)")
                rows = "?" if info.rows is None else (str(info.rows) if info.month == "default" else f"~{info.rows}")
                self.stdout.write(f"{info.key:14} {info.month:8} {rows:>12}  {info.name}{state}")

"""``manage.py load_catalogues [--kind drug|service] [--file PATH] [--replace]``: load the catalogues.

Without ``--file`` the shipped subset (``records/data``) is loaded; with it, the file is checked whole
like the administrator's upload and refused with every bad row named.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from records import catalogues
from records.models import CatalogueKind


class Command(BaseCommand):
    help = "Load the drug and service item catalogues (the shipped subset, or a CSV file)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=CatalogueKind.values)
        parser.add_argument("--file", type=Path)
        parser.add_argument("--replace", action="store_true", help="withdraw entries missing from the file")

    def handle(self, *args, kind=None, file=None, replace=False, **options):
        if file is None:
            reports = catalogues.load_shipped(kind)
        else:
            if kind is None:
                raise CommandError("--file needs --kind")
            try:
                rows = catalogues.parse(kind, file.read_bytes())
            except catalogues.CatalogueImportError as error:
                lines = [f"record {number}, {column or '-'}: {message}" for number, column, message in error.rows]
                raise CommandError("\n".join([str(error.message), *lines])) from None
            reports = [catalogues.write_rows(kind, rows, replace=replace, file_name=file.name)]
        for report in reports:
            self.stdout.write(
                f"{report.kind}: {report.rows} rows, {report.created} new, {report.updated} changed, "
                f"{report.unchanged} unchanged, {report.deactivated} withdrawn"
            )

import heapq
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from consortium.audit_chain import chain_values, row_material
from consortium.audit_verify import chain_rows, chained_models
from consortium.models import AuditChainHead


class Command(BaseCommand):
    help = _(
        "Write one month of the audit trail (audit events and access log, in chain order, with their seals) as JSON "
        "lines, ending with the month's chain head: the archive copy, or the feed of an external audit repository."
    )

    def add_arguments(self, parser):
        parser.add_argument("month", metavar="YYYY-MM")

    def handle(self, *args, month, **options):
        head = AuditChainHead.objects.filter(period=month).first()
        if head is None:
            raise CommandError(_("No audit chain for %(month)s.") % {"month": month})
        streams = [chain_rows(model, month, 2000) for model in chained_models()]
        for seq, label, row in heapq.merge(*streams, key=lambda item: item[0]):
            body = json.loads(row_material(label, month, seq, row.prev_hash, chain_values(row)))[4]
            line = {"table": label, "id": row.pk, "seq": seq, "prev_hash": row.prev_hash, "row_hash": row.row_hash, **body}
            self.stdout.write(json.dumps(line, ensure_ascii=False, sort_keys=True))
        head_line = {"head": month, "count": head.count, "last_hash": head.last_hash, "mac": head.mac}
        self.stdout.write(json.dumps(head_line, sort_keys=True))

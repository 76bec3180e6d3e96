"""Set-based reconciliation: one INSERT ... SELECT classifies every claim and settlement line of a run.

The same statement runs on PostgreSQL and SQLite (3.39+ for FULL OUTER JOIN). Classification:

Claims in scope: adjudicated claims of the institution and period, of the schemes the office administers.

* unknown_claim: a settlement line whose claim number matches no claim in scope;
* missing_at_insurer: a claim with something to pay (approved amount above 0) and no settlement line;
* rejected: a line the insurer marked rejected for a claim the platform expects paid;
* duplicate_payment: a second or later paid line for the same claim (the difference is the whole line);
* matched: the first paid line equals the expected payment (the approved amount) — and agreement
  that nothing is owed: a claim the platform rejected (expected 0) with no line or a rejected line;
* amount_mismatch: otherwise, with difference = paid − expected.

A reversal line (it names, in ``reverses_reference``, the trace number of a payment) is netted into
the payment it reverses when that payment is in the same file: the payment's row is classified on
what is left of it (a payment of 350.00 reversed by −10.00 matches an approved 340.00). A reversal of
a payment of an earlier file is a line of its own (classified like any other line of the claim).

Totals add up row by row: the expected amount of a claim is carried by its first line only (a
second line of the claim has no expected amount), and every row's difference is paid − expected,
so expected + difference = paid per kind and overall. Re-running the same file gives the same
rows: the classification reads the adjudicated amount, never the status a previous run set.
"""

from django.db import connection
from django.utils import timezone

from .models import REVERSIBLE, Claim, ClaimStatus, Discrepancy, OfficeScheme, SettlementLine
from .transitions import CLAIM_TRANSITIONS

RECONCILABLE = tuple(sorted(REVERSIBLE))

# Only table names and status constants are interpolated; every value is a bound parameter.
CLASSIFY_SQL = f"""
INSERT INTO {Discrepancy._meta.db_table}
    (run_id, kind, claim_id, line_id, claim_number, expected_amount, paid_amount, difference, status, note)
SELECT %(run)s, kind, claim_id, line_id, claim_number, expected, paid,
       ROUND(COALESCE(paid, 0) - COALESCE(expected, 0), 2),
       CASE WHEN kind = 'matched' THEN 'resolved' ELSE 'open' END,
       ''
FROM (
    SELECT c.id AS claim_id, l.id AS line_id, COALESCE(c.number, l.claim_number) AS claim_number,
           CASE WHEN l.rn > 1 THEN NULL ELSE c.expected END AS expected, l.paid_amount AS paid,
           CASE
               WHEN c.id IS NULL THEN 'unknown_claim'
               WHEN l.id IS NULL THEN CASE WHEN c.expected = 0 THEN 'matched' ELSE 'missing_at_insurer' END
               WHEN l.payment_status = 'rejected' THEN CASE WHEN c.expected = 0 AND l.rn = 1 THEN 'matched' ELSE 'rejected' END
               WHEN l.rn > 1 THEN 'duplicate_payment'
               WHEN l.paid_amount = c.expected THEN 'matched'
               ELSE 'amount_mismatch'
           END AS kind
    FROM (
        SELECT id, number, status, COALESCE(approved_amount, reimbursed) AS expected
        FROM {Claim._meta.db_table}
        WHERE institution_id = %(institution)s AND period = %(period)s
          AND scheme_id IN (SELECT scheme_id FROM {OfficeScheme._meta.db_table} WHERE office_id = %(office)s)
          AND status IN ({", ".join(f"'{s}'" for s in RECONCILABLE)})
    ) c
    FULL OUTER JOIN (
        SELECT x.id, x.claim_number, ROUND(x.paid_amount + COALESCE(r.reversed, 0), 2) AS paid_amount, x.payment_status,
               ROW_NUMBER() OVER (
                   PARTITION BY x.claim_number
                   ORDER BY CASE WHEN x.payment_status = 'paid' THEN 0 ELSE 1 END, x.row_number
               ) AS rn
        FROM {SettlementLine._meta.db_table} x
        LEFT JOIN (
            SELECT claim_number, reverses_reference, SUM(paid_amount) AS reversed
            FROM {SettlementLine._meta.db_table}
            WHERE file_id = %(file)s AND institution_code = %(institution_code)s AND reverses_reference <> ''
            GROUP BY claim_number, reverses_reference
        ) r ON r.claim_number = x.claim_number AND r.reverses_reference = x.payment_reference
               AND x.payment_reference <> '' AND x.reverses_reference = ''
        WHERE x.file_id = %(file)s AND x.institution_code = %(institution_code)s
          AND NOT (x.reverses_reference <> '' AND EXISTS (
              SELECT 1 FROM {SettlementLine._meta.db_table} o
              WHERE o.file_id = %(file)s AND o.institution_code = %(institution_code)s AND o.claim_number = x.claim_number
                AND o.payment_reference = x.reverses_reference AND o.reverses_reference = ''
          ))
    ) l ON l.claim_number = c.number
) classified
"""  # noqa: S608

_SETTLE_SQL = """
UPDATE {claims}
SET status = %(status)s, settled_amount = d.paid, settled_at = %(now)s, updated_at = %(now)s
FROM (
    SELECT claim_id, MIN(paid_amount) AS paid FROM {discrepancies}
    WHERE run_id = %(run)s AND kind = %(kind)s
    GROUP BY claim_id
) d
WHERE {claims}.id = d.claim_id AND {claims}.status IN ({from_statuses})
"""


def classify_params(run) -> dict:
    return {
        "run": run.pk,
        "institution": run.institution_id,
        "institution_code": run.institution.code,
        "period": run.period,
        "file": run.settlement_file_id,
        "office": run.office_id,
    }


def classify(run) -> int:
    """Write the run's classification; returns the number of rows written."""
    with connection.cursor() as cursor:
        cursor.execute(CLASSIFY_SQL, classify_params(run))
        return cursor.rowcount


def _statuses_that_may_become(target: str) -> tuple[str, ...]:
    return tuple(sorted(status for status, targets in CLAIM_TRANSITIONS.items() if target in targets))


def apply_claim_statuses(run) -> None:
    """Matched claims (platform-rejected ones the insurer agrees on too) become reconciled; paid mismatches settled."""
    now = timezone.now()
    with connection.cursor() as cursor:
        for kind, status in (
            ("matched", ClaimStatus.RECONCILED),
            ("amount_mismatch", ClaimStatus.SETTLED),
        ):
            sql = _SETTLE_SQL.format(
                claims=Claim._meta.db_table,
                discrepancies=Discrepancy._meta.db_table,
                from_statuses=", ".join(f"'{s}'" for s in _statuses_that_may_become(status)),
            )
            cursor.execute(sql, {"status": str(status), "run": run.pk, "kind": kind, "now": now})

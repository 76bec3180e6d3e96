"""The platform's adjudication reason codes (docs/REASON_CODES.md): code, Chinese text, English text.

Migration ``0009_payer_detail`` seeds them (with its own frozen copy); the demo seeding and the tests
call :func:`ensure_platform_reason_codes`, which adds any that are missing and changes nothing else
(an administrator's deactivation or wording stays).
"""

from .models import ReasonCode

PLATFORM_REASON_CODES = [
    ("R01", "目录外项目（丙类），基金不予支付", "Item outside the catalogue (class C): not paid by the fund"),
    ("R02", "超过限定价格或支付标准", "Above the price limit or payment standard"),
    ("R03", "超过限定数量、天数或频次", "Above the quantity, days or frequency limit"),
    ("R04", "不符合诊疗规范或限定适应症", "Not medically necessary, or outside the restricted indication"),
    ("R05", "重复申报或重复收费", "Duplicate claim or duplicate charge"),
    ("R06", "服务日期未参保或待遇暂停", "Not enrolled, or benefits suspended, on the service date"),
    ("R07", "未按规定办理转诊", "Visit above the home level without the required referral"),
    ("R08", "已达年度最高支付限额", "Annual ceiling reached"),
    ("R09", "申报资料不全或不一致", "Claim documentation missing or inconsistent"),
    ("R10", "超过申报期限", "Claim submitted after the deadline"),
    ("R11", "诊断与收费项目不符", "Diagnosis does not support the charged service"),
    ("R12", "起付线以下，由个人支付", "Below the deductible: paid by the patient"),
    ("R99", "其他原因（见说明）", "Other reason (see the note)"),
]


def ensure_platform_reason_codes() -> int:
    """Add the platform codes that are missing; returns how many were added."""
    existing = set(ReasonCode.objects.filter(office__isnull=True).values_list("code", flat=True))
    missing = [
        ReasonCode(office=None, code=code, text_zh=zh, text_en=en)
        for code, zh, en in PLATFORM_REASON_CODES
        if code not in existing
    ]
    ReasonCode.objects.bulk_create(missing)
    return len(missing)

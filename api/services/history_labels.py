"""A history a citizen can read: labels in Korean or English and what produced each entry.

Added to each indexed entry (whose raw fields and chain anchor stay for verification):
- the program's and the kind's name, the reason's for a deduction;
- for an award (GRANT): the round or period and the tier that produced it, joined from the
  award row by award id (the entry's ``ref``);
- for a conversion: the other program (the paired entry of the same conversion id);
- for a refund: the reason of the deduction it gives back (the DEDUCTION entry whose ref the
  REFUND carries);
- the time in Korea time (ISO 8601, ``+09:00``) and a one-line description.

Language by ``Accept-Language``: Korean first (default), English when the header prefers it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.history_schemas import ReadableEntryOut, ReadableHistoryOut
from api.schemas import HistoryOut
from ledger.adapters.orm import Award, Entry
from ledger.domain.codes import EntryKind, Program, Reason
from ledger.domain.koreatime import kst

LANGUAGES = ("ko", "en")

PROGRAMS: dict[str, tuple[str, str]] = {
    Program.ECO_HOUSEHOLD.name: ("에코마일리지(가정)", "Eco Mileage (household)"),
    Program.ECO_ORG.name: ("에코마일리지(단체)", "Eco Mileage (organisation)"),
    Program.CAR.name: ("승용차 마일리지", "Car Mileage"),
    Program.BIKE.name: ("자전거 마일리지", "Bike Mileage"),
    Program.ECO_SEASON.name: ("에코마일리지(시즌)", "Eco Mileage (season)"),
    Program.CAR_SEASON.name: ("승용차 마일리지(시즌)", "Car Mileage (season)"),
    Program.SEOUL.name: ("서울마일리지", "Seoul Mileage"),
}
KINDS: dict[str, tuple[str, str]] = {
    EntryKind.GRANT.name: ("적립", "Awarded"),
    EntryKind.CONVERSION_OUT.name: ("전환 (보냄)", "Converted out"),
    EntryKind.CONVERSION_IN.name: ("전환 (받음)", "Converted in"),
    EntryKind.DEDUCTION.name: ("사용", "Spent"),
    EntryKind.EXPIRY.name: ("소멸", "Expired"),
    EntryKind.CORRECTION.name: ("정정", "Correction"),
    EntryKind.MERGE_OUT.name: ("계정 통합 (이전)", "Moved by account merge"),
    EntryKind.MERGE_IN.name: ("계정 통합 (받음)", "Received by account merge"),
    EntryKind.REFUND.name: ("사용 취소 (환불)", "Refunded (use cancelled)"),
}
REASONS: dict[str, tuple[str, str]] = {
    Reason.CONVERSION.name: ("전환", "Conversion"),
    Reason.TAX_PAYMENT.name: ("지방세 납부", "Local tax payment"),
    Reason.CASH.name: ("현금 전환", "Cash"),
    Reason.GIFT_CERTIFICATE.name: ("상품권", "Gift certificate"),
    Reason.APARTMENT_FEE.name: ("아파트 관리비", "Apartment maintenance fee"),
    Reason.TRANSIT_CARD.name: ("교통카드 충전", "Transit card top-up"),
    Reason.ECO_PRODUCT.name: ("친환경 제품 구매", "Eco-friendly products"),
    Reason.BIKE_PASS.name: ("따릉이 이용권", "Seoul Bike pass"),
    Reason.DONATION.name: ("기부", "Donation"),
    Reason.EXPIRY.name: ("유효기간 만료", "Validity expired"),
    Reason.EXPIRY_DONATION.name: ("소멸 예정분 기부", "Donated at expiry"),
    Reason.CORRECTION.name: ("정정", "Correction"),
    Reason.MERGE.name: ("계정 통합", "Account merge"),
    Reason.CARD_POINTS.name: ("카드 포인트 전환", "Card points conversion"),
}
_FIXED_TIERS: dict[str, tuple[str, str]] = {
    "per_minute": ("이용 시간 적립", "per minute ridden"),
    "monthly_cap": ("월 상한", "monthly cap"),
    "yearly_cap_remainder": ("연 상한 잔여분", "rest of the yearly cap"),
    "bike_payout": ("적립 마일리지 지급", "accrued mileage paid out"),  # §2.4 payout award
    "unranked_50toe_plus": ("50 TOE 이상 절감", "50 TOE or more saved"),
    "unranked_under_50toe": ("50 TOE 미만 절감", "under 50 TOE saved"),
}
_RANKS = {"top": ("최우수", "top"), "excellent": ("우수", "excellent"),
          "encouragement": ("장려", "encouragement")}  # fmt: skip
_TIER_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"^(?:rate_)?(\d+)_to_(\d+)pct$"), "{0}–{1} % 절감", "{0}–{1} % reduction"),
    (re.compile(r"^(?:rate_)?(\d+)pct_plus$"), "{0} % 이상 절감", "{0} % or more reduction"),
    (re.compile(r"^km_(\d+)_to_(\d+)$"), "주행거리 {0}–{1} km 감축", "{0}–{1} km less driven"),
    (re.compile(r"^km_(\d+)_plus$"), "주행거리 {0} km 이상 감축", "{0} km or more less driven"),
    (re.compile(r"^at_most_([\d.]+)km$"), "시즌 주행 {0} km 이하", "at most {0} km in the season"),
)


def language(accept_language: str | None) -> str:
    """``ko`` or ``en``: the first of the two the header names (by q-value); ``ko`` if none."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        if base not in LANGUAGES:
            continue
        q = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        if q > 0 and (best is None or (q, -position) > (best[0], best[1])):
            best = (q, -position, base)
    return best[2] if best else "ko"


def _pick(pair: tuple[str, str] | None, lang: str) -> str | None:
    if pair is None:
        return None
    return pair[0] if lang == "ko" else pair[1]


def tier_label(tier: str, lang: str) -> str:
    """A reader's label of a rule's tier code (the code itself when it has none)."""
    fixed = _FIXED_TIERS.get(tier)
    if fixed is not None:
        return _pick(fixed, lang) or tier
    for pattern, ko, en in _TIER_PATTERNS:
        match = pattern.match(tier)
        if match:
            return (ko if lang == "ko" else en).format(*match.groups())
    head, _, rank = tier.rpartition("_")
    if head and rank in _RANKS:
        return f"{head} {_pick(_RANKS[rank], lang)}"
    return tier


def _awards(session: Session, refs: set[str]) -> dict[str, tuple[str, str]]:
    if not refs:
        return {}
    rows = session.execute(
        sa.select(Award.award_id, Award.period, Award.tier).where(Award.award_id.in_(refs))
    )
    return {str(r[0]): (str(r[1]), str(r[2] or "")) for r in rows}


def _counterparts(session: Session, account: str, refs: set[str]) -> dict[tuple[str, int], int]:
    """(conversion id, kind) -> program of the paired entry (OUT's IN and IN's OUT)."""
    if not refs:
        return {}
    kinds = (int(EntryKind.CONVERSION_OUT), int(EntryKind.CONVERSION_IN))
    rows = session.execute(
        sa.select(Entry.ref, Entry.kind, Entry.program).where(
            Entry.account_id == account, Entry.ref.in_(refs), Entry.kind.in_(kinds)
        )
    )
    paired: dict[tuple[str, int], int] = {}
    for ref, kind, program in rows:
        other = kinds[1] if int(kind) == kinds[0] else kinds[0]
        paired[(str(ref), other)] = int(program)
    return paired


def _refunded_reasons(session: Session, account: str, refs: set[str]) -> dict[str, str]:
    """deduction ref -> the reason name of that DEDUCTION entry of ``account``."""
    if not refs:
        return {}
    rows = session.execute(
        sa.select(Entry.ref, Entry.reason).where(
            Entry.account_id == account,
            Entry.ref.in_(refs),
            Entry.kind == int(EntryKind.DEDUCTION),
        )
    )
    return {str(ref): Reason(int(reason)).name for ref, reason in rows if reason in set(Reason)}


def label_entries(
    session: Session, account: str, entries: Sequence[dict[str, Any]], lang: str
) -> list[dict[str, Any]]:
    """``entries`` (the fields of :class:`api.schemas.EntryOut`) with the reader's fields."""
    grant_refs = {e["ref"] for e in entries if e["kind"] == EntryKind.GRANT.name}
    conversion_kinds = (EntryKind.CONVERSION_OUT.name, EntryKind.CONVERSION_IN.name)
    conv_refs = {e["ref"] for e in entries if e["kind"] in conversion_kinds}
    awards = _awards(session, grant_refs)
    paired = _counterparts(session, account, conv_refs)
    refunded = _refunded_reasons(
        session, account, {e["ref"] for e in entries if e["kind"] == EntryKind.REFUND.name}
    )
    out = []
    for e in entries:
        period = tier = tier_text = other = None
        if e["kind"] == EntryKind.GRANT.name and e["ref"] in awards:
            period, tier = awards[e["ref"]]
            tier_text = tier_label(tier, lang) if tier else None
            tier = tier or None
        if e["kind"] in conversion_kinds:
            code = paired.get((e["ref"], int(EntryKind[e["kind"]])))
            other = Program(code).name if code in set(Program) else None
        reason = e["reason"] if e["kind"] != EntryKind.GRANT.name else "NONE"
        if e["kind"] == EntryKind.REFUND.name:
            reason = refunded.get(e["ref"], "NONE")
        labels = {
            "program_label": _pick(PROGRAMS.get(e["program"]), lang) or e["program"],
            "kind_label": _pick(KINDS.get(e["kind"]), lang) or e["kind"],
            "period": period,
            "tier": tier,
            "tier_label": tier_text,
            "other_program": other,
            "other_program_label": _pick(PROGRAMS.get(other or ""), lang),
            "reason_label": _pick(REASONS.get(reason), lang),
            "time_kst": kst(int(e["timestamp"])),
        }
        labels["description"] = " · ".join(
            str(part)
            for part in (
                labels["program_label"],
                labels["kind_label"],
                period,
                tier_text,
                labels["other_program_label"],
                labels["reason_label"] if e["kind"] in _REASONED_KINDS else None,
            )
            if part
        )
        out.append({**e, **labels})
    return out


_REASONED_KINDS = (EntryKind.DEDUCTION.name, EntryKind.REFUND.name)


def readable_history(session: Session, page: HistoryOut, lang: str) -> ReadableHistoryOut:
    """``page`` (as :func:`api.services.wallet.history` answers it) labelled in ``lang``."""
    entries = label_entries(session, page.account, [e.model_dump() for e in page.entries], lang)
    return ReadableHistoryOut(
        account=page.account,
        language=lang,  # type: ignore[arg-type]
        entries=[ReadableEntryOut(**e) for e in entries],
        next_cursor=page.next_cursor,
        anchor=page.anchor,
    )

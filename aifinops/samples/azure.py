"""Render the ground truth's Azure rows as Azure Cost Management cost details exports.

Every Azure row goes to exactly one file, so the ledger never counts a row twice:

* rows of the **EA** billing account (``account_id`` without ``:``), all months but the
  last: ``azure/ea-actual-<first>_<last>.csv`` — PascalCase EA actual-cost header (as the
  finops-toolkit demo export), UTF-8 **BOM**, **CRLF**, dates ``MM/DD/YYYY``, tags without
  braces (``"k": "v","k2": "v2"``);
* the EA rows of the **last month**: ``azure/ea-actual-<month>-de.csv`` — the same export
  downloaded from a German portal: headers ``Kosten (Cost)``, ``Ressourcengruppe
  (ResourceGroup)`` ... (the English name in parentheses), dates ``DD.MM.YYYY`` (with a single
  EA month, the rows after the 15th go here);
* rows of the **MCA** billing account (``account_id`` with ``:``): ``azure/mca-actual-<first>_<last>.csv``
  — camelCase MCA header, ISO dates, JSON tags, ``paygCostInBillingCurrency``.

Token rows use ``UnitOfMeasure = 1K`` with ``Quantity = tokens / 1000`` (the truth's
``1K Tokens`` quantity); hours ``1 Hour``; storage ``1 GB/Month``. Costs are written as exact
decimal text, so the ledger's billed total per currency equals the truth's.

Example:
    >>> import tempfile, pathlib, datetime
    >>> from decimal import Decimal
    >>> import pandas as pd
    >>> from aifinops.samples import azure
    >>> truth = pd.DataFrame([{"date": datetime.date(2025, 1, 3), "provider": "azure",
    ...     "account_id": "80012345", "account_name": "Contoso EA", "project": "sub-1",
    ...     "region": "eastus", "service": "Virtual Machines", "sku": "NC24ads A100 v4",
    ...     "charge_type": "usage", "pricing_unit": "Hours", "quantity": Decimal(24),
    ...     "unit_price": Decimal("3.673"), "cost": Decimal("88.152"), "list_cost": Decimal("88.152"),
    ...     "currency": "USD", "tags": {"Team": "ml"}}])
    >>> [p.name for p in azure.write(truth, pathlib.Path(tempfile.mkdtemp()))]
    ['ea-actual-2025-01_2025-01.csv']
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import uuid
from calendar import monthrange
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd

__all__ = ["write", "EA_COLUMNS", "MCA_COLUMNS", "GERMAN", "UNIT_OF_MEASURE"]

#: EA actual-cost header (the finops-toolkit demo tenant export's 55 columns, in order)
EA_COLUMNS: tuple[str, ...] = (
    "BillingAccountId", "BillingAccountName", "BillingPeriodStartDate", "BillingPeriodEndDate",
    "BillingProfileId", "BillingProfileName", "AccountOwnerId", "AccountName", "SubscriptionId",
    "SubscriptionName", "Date", "Product", "PartNumber", "MeterId", "ServiceFamily", "MeterCategory",
    "MeterSubCategory", "MeterRegion", "MeterName", "Quantity", "EffectivePrice", "Cost", "UnitPrice",
    "BillingCurrency", "ResourceLocation", "AvailabilityZone", "ConsumedService", "ResourceId",
    "ResourceName", "ServiceInfo1", "ServiceInfo2", "AdditionalInfo", "Tags", "InvoiceSectionId",
    "InvoiceSection", "CostCenter", "UnitOfMeasure", "ResourceGroup", "ReservationId", "ReservationName",
    "ProductOrderId", "ProductOrderName", "OfferId", "IsAzureCreditEligible", "Term", "PublisherName",
    "PlanName", "ChargeType", "Frequency", "PublisherType", "PayGPrice", "PricingModel",
    "CostAllocationRuleName", "benefitId", "benefitName",
)

#: MCA cost details header (Cost Details API, 65 columns, mixed case as Microsoft writes it)
MCA_COLUMNS: tuple[str, ...] = (
    "invoiceId", "previousInvoiceId", "billingAccountId", "billingAccountName", "billingProfileId",
    "billingProfileName", "invoiceSectionId", "invoiceSectionName", "resellerName", "resellerMpnId",
    "costCenter", "billingPeriodEndDate", "billingPeriodStartDate", "servicePeriodEndDate",
    "servicePeriodStartDate", "date", "serviceFamily", "productOrderId", "productOrderName",
    "consumedService", "meterId", "meterName", "meterCategory", "meterSubCategory", "meterRegion",
    "ProductId", "ProductName", "SubscriptionId", "subscriptionName", "publisherType", "publisherId",
    "publisherName", "resourceGroupName", "ResourceId", "resourceLocation", "location", "effectivePrice",
    "quantity", "unitOfMeasure", "chargeType", "billingCurrency", "pricingCurrency",
    "costInBillingCurrency", "costInPricingCurrency", "costInUsd", "paygCostInBillingCurrency",
    "paygCostInUsd", "exchangeRatePricingToBilling", "exchangeRateDate", "isAzureCreditEligible",
    "serviceInfo1", "serviceInfo2", "additionalInfo", "tags", "PayGPrice", "frequency", "term",
    "reservationId", "reservationName", "pricingModel", "unitPrice", "costAllocationRuleName",
    "benefitId", "benefitName", "provider",
)

#: German portal labels of the EA columns (the English name follows in parentheses)
GERMAN: dict[str, str] = {
    "BillingAccountId": "Abrechnungskonto-ID", "BillingAccountName": "Abrechnungskontoname",
    "BillingPeriodStartDate": "Startdatum des Abrechnungszeitraums",
    "BillingPeriodEndDate": "Enddatum des Abrechnungszeitraums", "BillingProfileId": "Abrechnungsprofil-ID",
    "BillingProfileName": "Abrechnungsprofilname", "AccountOwnerId": "Kontobesitzer-ID", "AccountName": "Kontoname",
    "SubscriptionId": "Abonnement-ID", "SubscriptionName": "Abonnementname", "Date": "Datum", "Product": "Produkt",
    "PartNumber": "Teilenummer", "MeterId": "Verbrauchseinheits-ID", "ServiceFamily": "Dienstfamilie",
    "MeterCategory": "Verbrauchseinheitskategorie", "MeterSubCategory": "Verbrauchseinheitsunterkategorie",
    "MeterRegion": "Verbrauchseinheitsregion", "MeterName": "Verbrauchseinheitsname", "Quantity": "Menge",
    "EffectivePrice": "Effektiver Preis", "Cost": "Kosten", "UnitPrice": "Einzelpreis",
    "BillingCurrency": "Abrechnungswährung", "ResourceLocation": "Ressourcenstandort",
    "AvailabilityZone": "Verfügbarkeitszone", "ConsumedService": "Genutzter Dienst", "ResourceId": "Ressourcen-ID",
    "ResourceName": "Ressourcenname", "ServiceInfo1": "Dienstinformationen 1",
    "ServiceInfo2": "Dienstinformationen 2", "AdditionalInfo": "Zusätzliche Informationen", "Tags": "Tags",
    "InvoiceSectionId": "Rechnungsabschnitts-ID", "InvoiceSection": "Rechnungsabschnitt",
    "CostCenter": "Kostenstelle", "UnitOfMeasure": "Maßeinheit", "ResourceGroup": "Ressourcengruppe",
    "ReservationId": "Reservierungs-ID", "ReservationName": "Reservierungsname",
    "ProductOrderId": "Produktauftrags-ID", "ProductOrderName": "Produktauftragsname", "OfferId": "Angebots-ID",
    "IsAzureCreditEligible": "Azure-Guthaben berechtigt", "Term": "Laufzeit", "PublisherName": "Herausgebername",
    "PlanName": "Planname", "ChargeType": "Gebührentyp", "Frequency": "Häufigkeit",
    "PublisherType": "Herausgebertyp", "PayGPrice": "Nutzungsbasierter Preis", "PricingModel": "Preismodell",
    "CostAllocationRuleName": "Name der Kostenzuordnungsregel", "benefitId": "Vorteils-ID",
    "benefitName": "Vorteilsname",
}

#: truth pricing unit -> Azure UnitOfMeasure
UNIT_OF_MEASURE: dict[str, str] = {
    "1K Tokens": "1K", "1M Tokens": "1M", "Tokens": "1", "Hours": "1 Hour", "GB/Month": "1 GB/Month",
    "GB": "1 GB", "Requests": "1", "GB-Hours": "1 GB Hour",
}

_CHARGE_TYPE = {"usage": "Usage", "purchase": "Purchase", "tax": "Tax", "credit": "Credit", "fee": "Purchase",
                "refund": "Refund", "adjustment": "RoundingAdjustment"}
_FREQUENCY = {"Usage": "UsageBased", "Purchase": "OneTime", "Refund": "OneTime"}
_SERVICE_FAMILY = {"AI and Machine Learning": "AI + Machine Learning", "Compute": "Compute", "Storage": "Storage",
                   "Databases": "Databases", "Networking": "Networking"}


def write(truth: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the Azure rows of ``truth`` as EA, German-localized EA and MCA cost details.

    Args:
        truth: the ground-truth frame (:func:`aifinops.samples.truth.ground_truth`).
        out_dir: the sample folder; files go to ``out_dir/azure/``.

    Returns:
        The files written (none when ``truth`` has no Azure rows).
    """
    out_dir = Path(out_dir)
    rows = truth[truth["provider"] == "azure"]
    if rows.empty:
        return []
    recs = [_clean(r) for r in rows.to_dict("records")]
    mca = [r for r in recs if ":" in str(r.get("account_id") or "")]
    ea = [r for r in recs if ":" not in str(r.get("account_id") or "")]
    written: list[Path] = []
    folder = out_dir / "azure"
    if ea:
        months = sorted({_month(r["date"]) for r in ea})
        if len(months) > 1:
            de = [r for r in ea if _month(r["date"]) == months[-1]]
            main = [r for r in ea if _month(r["date"]) != months[-1]]
            de_label = months[-1]
        else:
            de = [r for r in ea if r["date"].day > 15]
            main = [r for r in ea if r["date"].day <= 15]
            de_label = months[0]
        if main:
            m = sorted({_month(r["date"]) for r in main})
            written.append(_write_ea(main, folder / f"ea-actual-{m[0]}_{m[-1]}.csv", german=False))
        if de:
            written.append(_write_ea(de, folder / f"ea-actual-{de_label}-de.csv", german=True))
    if mca:
        m = sorted({_month(r["date"]) for r in mca})
        written.append(_write_mca(mca, folder / f"mca-actual-{m[0]}_{m[-1]}.csv"))
    return written


# -- helpers ------------------------------------------------------------------------------------

def _clean(r: dict) -> dict:
    out = {}
    for k, v in r.items():
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            v = None
        out[k] = v
    d = out.get("date")
    if isinstance(d, pd.Timestamp):
        out["date"] = d.date()
    elif isinstance(d, str):
        out["date"] = date.fromisoformat(d[:10])
    tags = out.get("tags")
    out["tags"] = dict(tags) if isinstance(tags, dict) else {}
    return out


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def _dec(v) -> str:
    if v is None:
        return ""
    if not isinstance(v, Decimal):
        v = Decimal(str(v))
    return format(v, "f")


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "aifinops-azure:" + "|".join(parts)))


def _part_number(meter: str) -> str:
    h = hashlib.sha256(meter.encode()).hexdigest().upper()
    return f"{h[:3]}-{int(h[3:9], 16) % 100000:05d}"


def _braceless(tags: dict) -> str:
    return ",".join(f"{json.dumps(str(k))}: {json.dumps(str(v))}" for k, v in tags.items())


def _uom(r: dict) -> str:
    pu = r.get("pricing_unit")
    if not pu:
        return "1"
    if pu in UNIT_OF_MEASURE:
        return UNIT_OF_MEASURE[pu]
    return pu if re.match(r"^\d", pu) else f"1 {pu}"


def _resource_group(rid: str | None) -> str:
    m = re.search(r"/resourceGroups/([^/]+)", rid or "", re.IGNORECASE)
    return m.group(1) if m else ""


def _consumed_service(rid: str | None) -> str:
    m = re.search(r"/providers/([^/]+)/", rid or "", re.IGNORECASE)
    return m.group(1) if m else ""


def _common(r: dict) -> dict:
    """Values shared by the EA and MCA renderings of one truth row."""
    d: date = r["date"]
    meter = r.get("sku") or r.get("service") or "Usage"
    ctype = _CHARGE_TYPE.get(str(r.get("charge_type") or "usage").lower(), "Usage")
    qty = r.get("quantity")
    price = r.get("unit_price")
    cost = r.get("cost")
    list_cost = r.get("list_cost") if r.get("list_cost") is not None else cost
    payg = price
    if qty not in (None, 0) and list_cost is not None and cost is not None and list_cost != cost:
        payg = (Decimal(list_cost) / Decimal(qty)).quantize(Decimal("1e-10"))
    rid = r.get("resource_id") or ""
    service = r.get("service") or ""
    vm = service == "Virtual Machines"
    return {
        "date": d,
        "bp_start": d.replace(day=1),
        "bp_end": d.replace(day=monthrange(d.year, d.month)[1]),
        "meter": meter,
        "meter_id": _guid("meter", meter, r.get("region") or ""),
        "part": _part_number(meter),
        "product": f"{service} - {meter} - {r.get('region') or ''}".strip(" -"),
        "family": _SERVICE_FAMILY.get(r.get("service_category") or "", r.get("service_category") or ""),
        "category": service,
        "subcategory": (re.sub(r"[^0-9A-Za-z]", "", meter) + " Series") if vm else service,
        "qty": _dec(qty),
        "price": _dec(price),
        "payg": _dec(payg),
        "cost": _dec(cost),
        "list_cost": _dec(list_cost),
        "currency": r.get("currency") or "USD",
        "region": r.get("region") or "",
        "rid": rid,
        "rname": rid.rstrip("/").rsplit("/", 1)[-1] if rid else "",
        "rg": _resource_group(rid),
        "consumed": _consumed_service(rid),
        "info": json.dumps({"ServiceType": "Standard_" + meter.replace(" ", "_")}) if vm else "",
        "uom": _uom(r),
        "ctype": ctype,
        "freq": _FREQUENCY.get(ctype, "UsageBased"),
        "sub": r.get("project") or "",
        "sub_name": r.get("project_name") or r.get("project") or "",
        "tags": r["tags"],
    }


def _rows_ea(recs: list[dict], date_fmt: str) -> list[list[str]]:
    out = []
    for r in recs:
        c = _common(r)
        acct, acct_name = str(r.get("account_id") or ""), r.get("account_name") or ""
        v = {
            "BillingAccountId": acct, "BillingAccountName": acct_name,
            "BillingPeriodStartDate": c["bp_start"].strftime(date_fmt),
            "BillingPeriodEndDate": c["bp_end"].strftime(date_fmt),
            "BillingProfileId": acct, "BillingProfileName": acct_name,
            "AccountOwnerId": "finops@northwind.example", "AccountName": "Northwind Labs",
            "SubscriptionId": c["sub"], "SubscriptionName": c["sub_name"],
            "Date": c["date"].strftime(date_fmt), "Product": c["product"], "PartNumber": c["part"],
            "MeterId": c["meter_id"], "ServiceFamily": c["family"], "MeterCategory": c["category"],
            "MeterSubCategory": c["subcategory"], "MeterRegion": c["region"], "MeterName": c["meter"],
            "Quantity": c["qty"], "EffectivePrice": c["price"], "Cost": c["cost"], "UnitPrice": c["price"],
            "BillingCurrency": c["currency"], "ResourceLocation": c["region"], "AvailabilityZone": "",
            "ConsumedService": c["consumed"], "ResourceId": c["rid"], "ResourceName": c["rname"],
            "ServiceInfo1": "", "ServiceInfo2": "", "AdditionalInfo": c["info"], "Tags": _braceless(c["tags"]),
            "InvoiceSectionId": "IS-100", "InvoiceSection": "Northwind Labs", "CostCenter": "",
            "UnitOfMeasure": c["uom"], "ResourceGroup": c["rg"], "ReservationId": "", "ReservationName": "",
            "ProductOrderId": "", "ProductOrderName": "", "OfferId": "MS-AZR-0017P", "IsAzureCreditEligible": "True",
            "Term": "", "PublisherName": "Microsoft", "PlanName": "", "ChargeType": c["ctype"],
            "Frequency": c["freq"], "PublisherType": "Azure", "PayGPrice": c["payg"], "PricingModel": "OnDemand",
            "CostAllocationRuleName": "", "benefitId": "", "benefitName": "",
        }
        out.append([v[k] for k in EA_COLUMNS])
    return out


def _write_ea(recs: list[dict], path: Path, *, german: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [f"{GERMAN[c]} ({c})" for c in EA_COLUMNS] if german else list(EA_COLUMNS)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(_rows_ea(recs, "%d.%m.%Y" if german else "%m/%d/%Y"))
    return path


def _write_mca(recs: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(MCA_COLUMNS)
        for r in recs:
            c = _common(r)
            acct, acct_name = str(r.get("account_id") or ""), r.get("account_name") or ""
            profile = "-".join(p[:4].upper() for p in _guid("profile", acct).split("-")[:4])
            iso = "%Y-%m-%dT00:00:00.0000000Z"
            v = {
                "invoiceId": f"G{int(hashlib.sha256((acct + _month(c['date'])).encode()).hexdigest()[:8], 16):09d}",
                "previousInvoiceId": "", "billingAccountId": acct, "billingAccountName": acct_name,
                "billingProfileId": profile, "billingProfileName": acct_name,
                "invoiceSectionId": "ISEC-0001", "invoiceSectionName": "AI products", "resellerName": "",
                "resellerMpnId": "", "costCenter": "", "billingPeriodEndDate": c["bp_end"].strftime(iso),
                "billingPeriodStartDate": c["bp_start"].strftime(iso),
                "servicePeriodEndDate": c["bp_end"].strftime(iso), "servicePeriodStartDate": c["bp_start"].strftime(iso),
                "date": c["date"].strftime(iso), "serviceFamily": c["family"], "productOrderId": "",
                "productOrderName": "", "consumedService": c["consumed"], "meterId": c["meter_id"],
                "meterName": c["meter"], "meterCategory": c["category"], "meterSubCategory": c["subcategory"],
                "meterRegion": c["region"], "ProductId": c["part"].replace("-", ""), "ProductName": c["product"],
                "SubscriptionId": c["sub"], "subscriptionName": c["sub_name"], "publisherType": "Microsoft",
                "publisherId": "", "publisherName": "Microsoft", "resourceGroupName": c["rg"],
                "ResourceId": c["rid"], "resourceLocation": c["region"], "location": c["region"],
                "effectivePrice": c["price"], "quantity": c["qty"], "unitOfMeasure": c["uom"],
                "chargeType": c["ctype"], "billingCurrency": c["currency"], "pricingCurrency": c["currency"],
                "costInBillingCurrency": c["cost"], "costInPricingCurrency": c["cost"], "costInUsd": "",
                "paygCostInBillingCurrency": c["list_cost"], "paygCostInUsd": "",
                "exchangeRatePricingToBilling": "1", "exchangeRateDate": c["bp_start"].strftime(iso),
                "isAzureCreditEligible": "True", "serviceInfo1": "", "serviceInfo2": "",
                "additionalInfo": c["info"], "tags": json.dumps(c["tags"]) if c["tags"] else "",
                "PayGPrice": c["payg"], "frequency": c["freq"], "term": "", "reservationId": "",
                "reservationName": "", "pricingModel": "OnDemand", "unitPrice": c["price"],
                "costAllocationRuleName": "", "benefitId": "", "benefitName": "", "provider": "Azure",
            }
            w.writerow([v[k] for k in MCA_COLUMNS])
    return path

"""Google Cloud Billing export (BigQuery standard / detailed usage cost tables), as
newline-delimited JSON (``gcp-billing``: the table's own nested records, e.g. from
``bq extract --destination_format NEWLINE_DELIMITED_JSON``) or as a flattened CSV
(``gcp-billing-csv``: query results with dotted or underscored column names such as
``service.description`` / ``service_description``).

How records become ledger rows:

* **One row per export record for its cost** (``cost``, before credits), ChargeCategory
  from ``cost_type`` (``regular`` -> Usage, ``tax`` -> Tax, ``adjustment`` and
  ``rounding_error`` -> Adjustment; a missing ``cost_type`` means Usage).
* **One more row per entry of ``credits[]``** (ChargeCategory ``Credit``, BilledCost =
  EffectiveCost = the credit's ``amount``, negative), with the record's dimensions
  (project, SKU, labels, period), so a credit is attributed like the usage it discounts.
  As FOCUS asks of charges unrelated to other charges, a credit's ListCost and
  ContractedCost equal its BilledCost. Committed-use credits fill the CommitmentDiscount
  columns.
  So the ledger's BilledCost total is Google's net cost, ``cost + SUM(credits.amount)``.
* Both kinds share the record's ``x_SourceRow`` (the JSON line number, or the CSV record
  number); the loader's relation numbers them itself (``__row``) and tells them apart with
  ``__credit`` (0 for the cost row, 1.. for credits).
* Reconciliation: the raw ``cost`` plus the raw credit ``amount`` per ``currency`` must
  equal the ledger's BilledCost plus the quarantined rows' amounts, exactly.
* Billing period = ``invoice.month`` (``YYYYMM``), a month in America/Los_Angeles time as
  Google invoices it (e.g. 202405 -> 2024-05-01T07:00Z .. 2024-06-01T07:00Z); without it,
  the Pacific-time month of ``usage_start_time``.
* ListCost = ``cost_at_list`` (``cost`` when the export predates that column).
* Tags = one JSON object of ``labels`` (resource labels), then ``project.labels``,
  ``system_labels`` and ``tags`` for keys not already present. Labels may be
  ``[{"key": .., "value": ..}]`` arrays (BigQuery) or ``{"k": "v"}`` objects (CSV).
* Usage in ``seconds`` with a pricing unit in hours (compute, GPUs) is stated in Hours
  from ``usage.amount_in_pricing_units``, so GPU-hours come out of ``data/ai_skus/gcp.csv``.
* Money and quantities are read as text and cast to ``DECIMAL(38,18)``: JSON numbers go
  through DuckDB's JSON parser (IEEE doubles, printed shortest-round-trip), which is exact
  for the up-to-15-significant-digit FLOAT64 values BigQuery writes; JSON strings (as
  BigQuery writes NUMERIC) are exact at any length.

Malformed JSON lines are quarantined (``value`` error on column ``json`` with the line
number), never dropped; so are unparsable amounts, timestamps and invoice months.

CSV credits are either one ``credits`` column of JSON text (array, or one object) or
flattened ``credits.name``/``credits.amount``/``credits.type``/``credits.id``/
``credits.full_name`` columns holding one credit per record. A CSV flattened with one row
per credit (repeating the cost) cannot be told from real repeated costs: export with the
credits as JSON text instead.

Example:
    >>> from aifinops.formats.gcp import GcpBillingFormat
    >>> from aifinops.formats.base import Probe
    >>> p = Probe("b.json", "json", columns=["billing_account_id", "service", "sku", "usage_start_time",
    ...                                     "cost", "currency"], head='{"billing_account_id": "01"}')
    >>> GcpBillingFormat().sniff(p)
    True
"""

from __future__ import annotations

import json

from ..sql import Source, case_map, lit, q
from .base import Check, IngestOptions, Plan, Probe, Recon, SourceFormat, csv_relation

__all__ = ["GcpBillingFormat", "GcpBillingCsvFormat", "FORMATS", "SCALARS", "NESTED", "SERVICE_CATEGORIES",
           "PROVIDER"]

PROVIDER = "Google Cloud"

#: scalar fields of an export record, as dotted paths (the flattened CSV's column names)
SCALARS: tuple[str, ...] = (
    "billing_account_id", "service.id", "service.description", "sku.id", "sku.description",
    "usage_start_time", "usage_end_time", "project.id", "project.number", "project.name",
    "location.location", "location.country", "location.region", "location.zone",
    "resource.name", "resource.global_name", "cost", "currency", "currency_conversion_rate",
    "usage.amount", "usage.unit", "usage.amount_in_pricing_units", "usage.pricing_unit",
    "invoice.month", "cost_type", "cost_at_list", "price.effective_price", "price.list_price",
    "price.unit", "price.pricing_unit_quantity", "price.tier_start_amount", "seller_name",
    "transaction_type", "adjustment_info.id", "adjustment_info.type", "adjustment_info.mode",
    "adjustment_info.description", "subscription.instance_id", "export_time",
    "consumption_model.id", "consumption_model.description",
)
#: repeated / nested fields, kept as JSON text in the relation
NESTED: tuple[str, ...] = ("labels", "project.labels", "system_labels", "tags", "credits")
#: the fields of one credit
CREDIT_FIELDS: tuple[str, ...] = ("name", "amount", "full_name", "id", "type")
_CREDIT_COLS = tuple(f"credits.{f}" for f in CREDIT_FIELDS)
#: numeric fields cleared on credit rows (the credit row carries only the credit amount)
_COST_ONLY = ("cost", "cost_at_list", "usage.amount", "usage.amount_in_pricing_units", "price.effective_price",
              "price.list_price")

#: ``service.description`` -> FOCUS ServiceCategory (others: ``Other``)
SERVICE_CATEGORIES: dict[str, str] = {
    "Vertex AI": "AI and Machine Learning",
    "Vertex AI Search": "AI and Machine Learning",
    "Generative Language API": "AI and Machine Learning",
    "Gemini API": "AI and Machine Learning",
    "Cloud Vision API": "AI and Machine Learning",
    "Cloud Speech API": "AI and Machine Learning",
    "Cloud Text-to-Speech API": "AI and Machine Learning",
    "Cloud Translation API": "AI and Machine Learning",
    "Cloud Natural Language API": "AI and Machine Learning",
    "Document AI": "AI and Machine Learning",
    "Cloud TPU": "AI and Machine Learning",
    "Compute Engine": "Compute",
    "Kubernetes Engine": "Compute",
    "Cloud Run": "Compute",
    "Cloud Run Functions": "Compute",
    "Cloud Functions": "Compute",
    "App Engine": "Compute",
    "Cloud Storage": "Storage",
    "Filestore": "Storage",
    "Artifact Registry": "Developer Tools",
    "Cloud Build": "Developer Tools",
    "Cloud SQL": "Databases",
    "Cloud Spanner": "Databases",
    "Cloud Bigtable": "Databases",
    "Firestore": "Databases",
    "Cloud Memorystore for Redis": "Databases",
    "AlloyDB": "Databases",
    "BigQuery": "Analytics",
    "BigQuery Storage API": "Analytics",
    "Dataflow": "Analytics",
    "Dataproc": "Analytics",
    "Cloud Pub/Sub": "Integration",
    "Networking": "Networking",
    "Cloud DNS": "Networking",
    "Cloud CDN": "Networking",
    "Cloud Load Balancing": "Networking",
    "Cloud Logging": "Management and Governance",
    "Cloud Monitoring": "Management and Governance",
    "Secret Manager": "Security",
    "Cloud Key Management Service (KMS)": "Security",
    "Identity Platform": "Identity",
    "Support": "Other",
}

_MACHINE_SPEC = "compute.googleapis.com/machine_spec"
_KV = "STRUCT(key VARCHAR, value VARCHAR)[]"
_KV_JSON = lit(json.dumps([{"key": "VARCHAR", "value": "VARCHAR"}]))
_CREDITS_JSON = lit(json.dumps([{f: "VARCHAR" for f in CREDIT_FIELDS}]))


def _kv_list(expr: str) -> str:
    """SQL: JSON text of labels (array of {key,value} or object) -> list of (key, value)."""
    return (f"(CASE WHEN {expr} IS NULL OR NOT json_valid({expr}) THEN CAST([] AS {_KV}) "
            f"WHEN json_type({expr}) = 'ARRAY' THEN CAST(from_json({expr}, {_KV_JSON}) AS {_KV}) "
            f"WHEN json_type({expr}) = 'OBJECT' THEN CAST(map_entries(json_transform({expr}, "
            f"'\"MAP(VARCHAR, VARCHAR)\"')) AS {_KV}) ELSE CAST([] AS {_KV}) END)")


def _credit_list(expr: str) -> str:
    t = f"(CASE WHEN json_type({expr}) = 'OBJECT' THEN '[' || {expr} || ']' ELSE {expr} END)"
    return (f"(CASE WHEN {expr} IS NULL OR NOT json_valid({expr}) THEN [] "
            f"WHEN json_type({expr}) IN ('ARRAY', 'OBJECT') THEN from_json({t}, {_CREDITS_JSON}) ELSE [] END)")


def _common(rec: str) -> str:
    """From per-record SQL ``rec`` (``__row``, ``__invalid``, the SCALARS and the NESTED
    fields as JSON text), the relation: a cost row per record plus a row per credit."""
    labels = [q(n) for n in ("labels", "project.labels", "system_labels", "tags")]
    merged = " || ".join(_kv_list(x) for x in labels)
    dedup = ("list_filter(list_filter(__kv, lambda x: x.key IS NOT NULL AND x.value IS NOT NULL), "
             "lambda x, i: list_position(list_transform(list_filter(__kv, lambda y: y.key IS NOT NULL AND "
             "y.value IS NOT NULL), lambda y: y.key), x.key) = i)")
    tags = (f"(CASE WHEN len({dedup}) > 0 THEN '{{' || array_to_string(list_transform({dedup}, "
            f"lambda x: to_json(x.key) || ':' || to_json(x.value)), ',') || '}}' END)")
    machine = (f"list_filter({_kv_list(q('system_labels'))}, lambda x: x.key = {lit(_MACHINE_SPEC)})[1].value")
    base = (f"SELECT *, {tags} AS __tags, {machine} AS {q('system_labels.machine_spec')}, "
            f"{_credit_list(q('credits'))} AS __cl FROM (SELECT *, {merged} AS __kv FROM ({rec}) AS __r0) AS __r1")
    keep = [q(c) for c in SCALARS if c not in _COST_ONLY] + [q(c) for c in NESTED] + \
        ["__invalid", "__tags", q("system_labels.machine_spec")]
    cost_rows = (f"SELECT __row, CAST(0 AS BIGINT) AS __credit, {', '.join(keep)}, "
                 f"{', '.join(q(c) for c in _COST_ONLY)}, "
                 f"{', '.join(f'CAST(NULL AS VARCHAR) AS {q(c)}' for c in _CREDIT_COLS)} FROM __gcp_base")
    credit_rows = (f"SELECT __row, CAST(__i AS BIGINT) AS __credit, {', '.join(keep)}, "
                   f"{', '.join(f'CAST(NULL AS VARCHAR) AS {q(c)}' for c in _COST_ONLY)}, "
                   f"{', '.join(f'__c.{f} AS {q(c)}' for f, c in zip(CREDIT_FIELDS, _CREDIT_COLS))} "
                   f"FROM (SELECT *, unnest(__cl) AS __c, generate_subscripts(__cl, 1) AS __i FROM __gcp_base "
                   f"WHERE len(__cl) > 0) AS __u")
    return (f"WITH __gcp_base AS ({base}) SELECT * FROM ({cost_rows} UNION ALL {credit_rows}) AS __all "
            f"ORDER BY __row, __credit")


def _structure() -> dict:
    """The ``from_json`` structure of a record: every scalar as VARCHAR (numbers keep their
    text), every nested/repeated field as JSON text."""
    out: dict = {}
    for path, typ in [(c, "VARCHAR") for c in SCALARS] + [(c, "JSON") for c in NESTED]:
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = typ
    return out


def _json_records(path: str, compressed: bool) -> str:
    """Per-record SQL of a JSON-lines file: line number, validity, fields as text. Each
    line is parsed once (``from_json`` into a struct); a line that is not a JSON object
    keeps its text in ``__invalid`` for the quarantine."""
    args = [lit(path), "columns = {'line': 'VARCHAR'}", "header = false", "delim = chr(1)", "quote = ''",
            "escape = ''", "auto_detect = false", "max_line_size = 1073741824"]
    if compressed:
        args.append("compression = 'gzip'")
    lines = f"SELECT row_number() OVER () AS __row, line FROM read_csv({', '.join(args)})"
    ok = "(CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE FALSE END)"
    parsed = (f"SELECT __row, CASE WHEN NOT {ok} THEN left(line, 200) END AS __invalid, "
              f"CASE WHEN {ok} THEN from_json(line, {lit(json.dumps(_structure()))}) END AS __j "
              f"FROM ({lines}) AS __l WHERE line IS NOT NULL AND TRIM(line) <> ''")
    cols = ["__invalid"]
    for c in SCALARS + NESTED:
        cols.append(f"CAST(__j.{'.'.join(q(p) for p in c.split('.'))} AS VARCHAR) AS {q(c)}")
    return f"SELECT __row, {', '.join(cols)} FROM ({parsed}) AS __p"


def _canonical(col: str) -> str | None:
    """The dotted field a CSV header names (``service_description`` -> ``service.description``)."""
    known = SCALARS + NESTED + _CREDIT_COLS
    if col in known:
        return col
    for k in known:
        if k.replace(".", "_") == col:
            return k
    return None


class GcpBillingFormat(SourceFormat):
    """Cloud Billing export to BigQuery, as newline-delimited JSON (``.json``/``.jsonl``[.gz])."""

    name = "gcp-billing"
    title = "Google Cloud Billing export (BigQuery standard/detailed, newline-delimited JSON)"
    required = ("billing_account_id", "service", "sku", "usage_start_time", "cost")
    kinds = ("json",)

    def sniff(self, probe: Probe) -> bool:
        if probe.kind not in self.kinds or not probe.head.lstrip().startswith("{"):
            return False
        if set(self.required) <= set(probe.columns):
            return True
        for line in probe.head.splitlines()[:50]:  # the first line may be malformed
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            return isinstance(rec, dict) and set(self.required) <= set(rec)
        return False

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        return _common(_json_records(str(probe.path), probe.compressed))

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        return _plan(source, json_text=False)


class GcpBillingCsvFormat(SourceFormat):
    """The same export flattened to CSV (dotted or underscored column names)."""

    name = "gcp-billing-csv"
    title = "Google Cloud Billing export flattened to CSV (service.description, credits as JSON text ...)"
    required = ("billing_account_id", "service.description", "sku.description", "usage_start_time", "cost")
    kinds = ("csv",)

    def sniff(self, probe: Probe) -> bool:
        return probe.kind in self.kinds and set(self.required) <= {_canonical(c) for c in probe.columns}

    def similarity(self, probe: Probe) -> float:
        return len(set(self.required) & {_canonical(c) for c in probe.columns}) / len(self.required)

    def missing(self, probe: Probe) -> list[str]:
        have = {_canonical(c) for c in probe.columns}
        return [c for c in self.required if c not in have]

    def relation(self, probe: Probe, options: IngestOptions) -> str:
        names = [_canonical(c) or c for c in probe.columns]
        seen: set[str] = set()
        for i, n in enumerate(names):  # keep a duplicate canonical name under its own header
            if n in seen:
                names[i] = probe.columns[i]
            seen.add(names[i])
        raw = csv_relation(probe, options, columns=names)
        have = set(names)
        cols = ["CAST(NULL AS VARCHAR) AS __invalid"]
        for c in SCALARS + NESTED:
            if c == "credits" and c not in have and any(x in have for x in _CREDIT_COLS):
                obj = ", ".join(f"{lit(f)}, {q(x) if x in have else 'NULL'}" for f, x in zip(CREDIT_FIELDS, _CREDIT_COLS))
                amount = q("credits.amount") if "credits.amount" in have else "NULL"
                cols.append(f"CASE WHEN NULLIF(TRIM({amount}), '') IS NOT NULL THEN "
                            f"CAST(json_array(json_object({obj})) AS VARCHAR) END AS {q(c)}")
            elif c in have:
                cols.append(f"NULLIF(TRIM({q(c)}), '') AS {q(c)}")
            else:
                cols.append(f"CAST(NULL AS VARCHAR) AS {q(c)}")
        rec = f"SELECT row_number() OVER () AS __row, {', '.join(cols)} FROM ({raw}) AS __csv"
        return _common(rec)

    def plan(self, source: Source, probe: Probe, options: IngestOptions) -> Plan:
        plan = _plan(source, json_text=True)
        have = {_canonical(c) for c in probe.columns}
        if "cost_at_list" not in have:
            plan.defaulted.append("ListCost")
        return plan


def _plan(s: Source, *, json_text: bool) -> Plan:
    t, n = s.text, s.num
    credit = '("__credit" > 0)'
    ctype = f"LOWER({t('cost_type')})"
    start, end = s.ts("usage_start_time"), s.ts("usage_end_time")
    month = t("invoice.month")
    month_ok = f"regexp_matches({month}, '^[0-9]{{6}}$')"
    la = "'America/Los_Angeles'"
    local_start = (f"(CASE WHEN {month_ok} THEN CAST(strptime({month} || '01', '%Y%m%d') AS TIMESTAMP) "
                   f"ELSE date_trunc('month', timezone({la}, {start})) END)")
    in_hours = (f"(LOWER({t('usage.unit')}) IN ('seconds', 's') AND LOWER({t('usage.pricing_unit')}) LIKE 'hour%' "
                f"AND {n('usage.amount_in_pricing_units')} IS NOT NULL)")
    cud = case_map(f"UPPER({t('credits.type')})", {"COMMITTED_USAGE_DISCOUNT": "Usage",
                                                    "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE": "Spend"})
    category = (f"CASE WHEN {credit} THEN 'Credit' WHEN {ctype} IS NULL OR {ctype} = 'regular' THEN 'Usage' "
                f"WHEN {ctype} = 'tax' THEN 'Tax' WHEN {ctype} IN ('adjustment', 'rounding_error') THEN 'Adjustment' "
                f"ELSE {t('cost_type')} END")
    cols = {
        "BilledCost": f"CASE WHEN {credit} THEN {n('credits.amount')} ELSE {n('cost')} END",
        "EffectiveCost": f"CASE WHEN {credit} THEN {n('credits.amount')} ELSE {n('cost')} END",
        "ContractedCost": f"CASE WHEN {credit} THEN {n('credits.amount')} ELSE {n('cost')} END",
        "ListCost": f"CASE WHEN {credit} THEN {n('credits.amount')} ELSE COALESCE({n('cost_at_list')}, {n('cost')}) END",
        "ListUnitPrice": n("price.list_price"),
        "ContractedUnitPrice": n("price.effective_price"),
        "BillingCurrency": f"UPPER({t('currency')})",
        "BillingAccountId": t("billing_account_id"),
        "BillingAccountType": lit("Billing Account"),
        "SubAccountId": t("project.id"),
        "SubAccountName": t("project.name"),
        "SubAccountType": f"CASE WHEN {t('project.id')} IS NOT NULL THEN 'Project' END",
        "BillingPeriodStart": f"timezone({la}, {local_start})",
        "BillingPeriodEnd": f"timezone({la}, {local_start} + INTERVAL 1 MONTH)",
        "ChargePeriodStart": start,
        "ChargePeriodEnd": f"COALESCE({end}, {start} + INTERVAL 1 HOUR)",
        "ChargeCategory": category,
        "ChargeClass": f"CASE WHEN NOT {credit} AND {ctype} = 'adjustment' THEN 'Correction' END",
        "ChargeFrequency": f"CASE WHEN {credit} OR {ctype} IS NULL OR {ctype} = 'regular' THEN 'Usage-Based' END",
        "ChargeDescription": f"CASE WHEN {credit} THEN COALESCE({t('credits.full_name')}, {t('credits.name')}) "
                             f"ELSE {t('sku.description')} END",
        "PricingCategory": (f"CASE WHEN {credit} OR NOT ({ctype} IS NULL OR {ctype} = 'regular') THEN NULL "
                            f"WHEN {t('sku.description')} LIKE '%Preemptible%' OR {t('sku.description')} LIKE 'Spot %' "
                            f"THEN 'Dynamic' ELSE 'Standard' END"),
        "CommitmentDiscountCategory": f"CASE WHEN {credit} THEN {cud} END",
        "CommitmentDiscountType": f"CASE WHEN {credit} AND {cud} IS NOT NULL THEN 'Committed Use Discount' END",
        "CommitmentDiscountId": f"CASE WHEN {credit} AND {cud} IS NOT NULL THEN {t('credits.id')} END",
        "CommitmentDiscountName": f"CASE WHEN {credit} AND {cud} IS NOT NULL THEN {t('credits.full_name')} END",
        "ConsumedQuantity": f"CASE WHEN {credit} THEN NULL WHEN {in_hours} THEN {n('usage.amount_in_pricing_units')} "
                            f"ELSE {n('usage.amount')} END",
        "ConsumedUnit": f"CASE WHEN {credit} THEN NULL WHEN {in_hours} THEN 'Hours' ELSE {t('usage.unit')} END",
        "PricingQuantity": n("usage.amount_in_pricing_units"),
        "PricingUnit": f"CASE WHEN NOT {credit} THEN {t('usage.pricing_unit')} END",
        "ProviderName": lit(PROVIDER),
        "PublisherName": f"COALESCE({t('seller_name')}, {lit(PROVIDER)})",
        "InvoiceIssuerName": lit(PROVIDER),
        "ServiceName": t("service.description"),
        "ServiceCategory": case_map(t("service.description"), SERVICE_CATEGORIES, default="'Other'"),
        "RegionId": f"COALESCE({t('location.region')}, {t('location.location')})",
        "RegionName": f"COALESCE({t('location.region')}, {t('location.location')})",
        "AvailabilityZone": t("location.zone"),
        "ResourceId": f"COALESCE({t('resource.global_name')}, {t('resource.name')})",
        "ResourceName": t("resource.name"),
        "SkuId": t("sku.id"),
        "SkuMeter": t("sku.description"),
        "Tags": q("__tags"),
    }
    checks = [Check("json", "value", "(__invalid IS NOT NULL)", "__invalid")]
    if json_text:
        checks += [Check(c, "value", f"({t(c)} IS NOT NULL AND NOT json_valid({t(c)}))", q(c))
                   for c in NESTED if s.has(c)]
    for c in ("cost", "credits.amount", "cost_at_list", "usage.amount", "usage.amount_in_pricing_units",
              "currency_conversion_rate", "price.effective_price", "price.list_price"):
        checks.append(Check(c, "number", s.bad_num(c), q(c)))
    checks += [Check(c, "timestamp", s.bad_ts(c), q(c)) for c in ("usage_start_time", "usage_end_time")]
    checks.append(Check("invoice.month", "value", f"({month} IS NOT NULL AND NOT {month_ok})", q("invoice.month")))
    checks.append(Check("cost", "required", f"(NOT {credit} AND __invalid IS NULL AND {t('cost')} IS NULL)", "NULL"))
    recon = [Recon("BilledCost", f"(COALESCE({n('cost')}, 0) + COALESCE({n('credits.amount')}, 0))",
                   f"UPPER({t('currency')})", "cost + credits.amount")]
    extra = {
        "x_ServiceId": t("service.id"),
        "x_CostType": t("cost_type"),
        "x_CreditId": t("credits.id"),
        "x_CreditName": t("credits.name"),
        "x_CreditType": t("credits.type"),
        "x_InvoiceMonth": month,
        "x_ProjectNumber": t("project.number"),
        "x_Location": t("location.location"),
        "x_CurrencyConversionRate": t("currency_conversion_rate"),
        "x_MachineSpec": t("system_labels.machine_spec"),
        "x_UsageAmount": t("usage.amount"),
        "x_UsageUnit": t("usage.unit"),
        "x_TransactionType": t("transaction_type"),
        "x_AdjustmentType": t("adjustment_info.type"),
        "x_AdjustmentDescription": t("adjustment_info.description"),
        "x_SubscriptionInstanceId": t("subscription.instance_id"),
        "x_ConsumptionModel": t("consumption_model.description"),
        "x_ExportTime": t("export_time"),
    }
    return Plan(columns=cols, checks=checks, recon=recon, extra=extra)


FORMATS = [GcpBillingFormat(), GcpBillingCsvFormat()]

"""Realistic, deterministic demo B2B leads whose true sales-ready probability is known.

Leads carry a hidden intent and company fit that shape what the CRM records (source, form,
engagement), but the truth, `true_probability`, is a fixed function of the recorded columns only,
so a good model can in principle reach it. The lead mix drifts over time (more paid social and
free e-mail leads, seasonal trade shows) while P(sales_ready | recorded columns) stays the same.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from leadml.data import folders
from leadml.errors import DataError, LeadmlError

DEFAULT_START = "2024-01-01"
DEFAULT_END = "2026-10-31"
CHUNK_ROWS = 100_000
KIND_LEADS = "demo leads"  # the kind of folder write_partitioned makes (folders.MANIFEST)
PARTITION_ROWS = 1_000_000  # leads per Parquet part when writing a folder
OPEN_DAYS = 14  # leads this close to the window's end are mostly still open
OPEN_SHARE = 0.7
EXTENSIONS = (".csv", ".csv.gz", ".parquet")

SOURCES = ("organic_search", "paid_search", "paid_social", "referral", "partner", "events",
           "outbound_list")  # fmt: skip
CHANNELS = ("email", "webinar", "trade_show", "content_syndication", "linkedin_ads", "search_ads",
            "none")  # fmt: skip
FORMS = ("whitepaper_download", "survey_completed", "webinar_attended", "trade_show_badge_scan",
         "demo_request", "contact_us")  # fmt: skip
CTAS = ("none", "case_study_request", "pricing_request", "call_back_request")
INDUSTRIES = ("software", "financial_services", "healthcare", "manufacturing", "retail",
              "education", "public_sector", "other")  # fmt: skip
SENIORITIES = ("intern", "individual_contributor", "manager", "director", "vp", "c_level")
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "NL", "ES", "IN", "BR", "AU", "other")
EMAIL_KINDS = ("business", "free", "student")

# ---- The truth: effects on the log-odds of sales_ready. The last entry is for a missing value.
BASE_LOGIT = -3.33
FORM_EFFECT = [-0.35, 0.35, 0.3, -0.5, 1.45, 0.5]
CTA_EFFECT = [0.0, 0.35, 1.1, 1.3, -0.05]
KIND_EFFECT = [0.0, -0.7, -1.6]
DEMO_BY_KIND = [0.0, -0.4, -1.1]  # a demo request from a student is much weaker
SENIORITY_EFFECT = [-1.4, -0.2, 0.1, 0.5, 0.6, 0.55, -0.25]
DIRECTOR_PLUS = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0]  # pricing views matter more for them
INDUSTRY_EFFECT = [0.35, 0.3, 0.1, 0.05, -0.1, -0.6, -0.5, -0.1, -0.2]
COUNTRY_EFFECT = [0.15, 0.1, 0.1, 0.05, 0.0, 0.05, -0.05, -0.35, -0.3, 0.05, -0.25, -0.1]
SOURCE_EFFECT = [0.1, 0.05, -0.2, 0.4, 0.25, -0.1, -0.3]
CHANNEL_EFFECT = [0.0, 0.1, -0.1, 0.0, -0.1, 0.0, 0.0]

# ---- How leads arise (the hidden part): lead mix early (2024-01) and late (2026-10).
TREND_FROM = np.datetime64("2024-01-01", "s").astype(np.int64)
TREND_TO = np.datetime64("2026-10-31", "s").astype(np.int64)
SOURCE_EARLY = np.array([0.26, 0.20, 0.05, 0.12, 0.10, 0.12, 0.15])
SOURCE_LATE = np.array([0.17, 0.13, 0.38, 0.08, 0.06, 0.10, 0.08])
EVENT_SEASON = np.array([0.4, 0.9, 1.7, 1.2, 1.5, 1.6, 0.4, 0.4, 1.8, 1.7, 1.0, 0.4])  # Jan..Dec
SOURCE_INTENT = np.array([0.2, 0.1, -0.4, 0.5, 0.3, -0.1, -0.3])
CHANNEL_GIVEN_SOURCE = np.array(
    [  # email, webinar, trade_show, content_syndication, linkedin_ads, search_ads, none
        [0.20, 0.10, 0.00, 0.10, 0.00, 0.00, 0.60],  # organic_search
        [0.10, 0.00, 0.00, 0.00, 0.00, 0.85, 0.05],  # paid_search
        [0.00, 0.10, 0.00, 0.10, 0.80, 0.00, 0.00],  # paid_social
        [0.20, 0.10, 0.00, 0.00, 0.00, 0.00, 0.70],  # referral
        [0.20, 0.30, 0.00, 0.40, 0.00, 0.00, 0.10],  # partner
        [0.05, 0.20, 0.75, 0.00, 0.00, 0.00, 0.00],  # events
        [0.80, 0.00, 0.00, 0.00, 0.00, 0.00, 0.20],  # outbound_list
    ]
)
FORM_GIVEN_CHANNEL = np.array(
    [  # log-odds of each form (FORMS order) given the channel
        [1.0, 0.6, 0.2, -3.0, 0.0, 0.2],  # email
        [-0.5, -0.5, 2.5, -3.0, -0.5, -1.0],  # webinar
        [-2.0, -1.0, -2.0, 3.0, -1.0, -2.0],  # trade_show
        [2.0, 0.5, -1.0, -3.0, -1.0, -1.0],  # content_syndication
        [1.5, 0.8, -0.5, -3.0, -0.5, -0.8],  # linkedin_ads
        [0.5, -0.5, -1.0, -3.0, 0.8, 0.7],  # search_ads
        [0.3, -0.5, -1.0, -3.0, 0.8, 1.0],  # none
    ]
)
FORM_INTENT = np.array([-0.3, 0.0, 0.0, -0.2, 1.0, 0.5])
FORM_WEB = np.array([0.0, 0.1, 0.2, -0.5, 0.4, 0.3])
FORM_PRICE = np.array([-0.5, -0.3, -0.2, -0.6, 0.6, 0.3])
INDUSTRY_SHARE = np.array([0.22, 0.12, 0.11, 0.14, 0.10, 0.08, 0.07, 0.16])
SENIORITY_SHARE = np.array([0.04, 0.38, 0.28, 0.15, 0.08, 0.07])
COUNTRY_SHARE = np.array([0.38, 0.05, 0.10, 0.08, 0.05, 0.03, 0.03, 0.08, 0.04, 0.04, 0.12])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _codes(frame: pd.DataFrame, column: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Positions of the values in `allowed`; -1 for a missing value (so [-1] picks 'missing')."""
    values = pa.array(frame[column], from_pandas=True).cast(pa.large_string())
    found = pc.index_in(values, value_set=pa.array(allowed, pa.large_string()))
    codes = found.fill_null(-1).to_numpy().astype(np.int64)
    unknown = (codes == -1) & pc.is_valid(values).to_numpy(zero_copy_only=False)
    if unknown.any():
        bad = sorted(set(frame[column][unknown].astype(str)))[:5]
        raise DataError(f"column '{column}' has values outside {list(allowed)}: {bad}")
    return codes


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A numeric column as floats, NaN where missing (also for frames read back from CSV)."""
    return pd.to_numeric(frame[column]).to_numpy(dtype=np.float64, na_value=np.nan)


def _flags(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A boolean column as 1.0 / 0.0, NaN where missing."""
    return frame[column].astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)


def _effect(table: list[float], codes: np.ndarray) -> np.ndarray:
    return np.asarray(table, dtype=np.float64)[codes]


def true_probability(frame: pd.DataFrame) -> np.ndarray:
    """The probability that each lead is sales-ready, from its recorded feature columns only.

    Non-decreasing in web_visits, pricing_page_views, email_clicks and existing_customer and
    non-increasing in days_since_last_activity (a missing value, no activity at all, is the worst).
    """
    form = _codes(frame, "capture_form", FORMS)
    kind = _codes(frame, "email_domain_kind", EMAIL_KINDS)
    seniority = _codes(frame, "job_seniority", SENIORITIES)
    cta = _codes(frame, "follow_up_cta", CTAS)
    logit = BASE_LOGIT + _effect(FORM_EFFECT, form) + _effect(KIND_EFFECT, kind)
    logit += _effect(DEMO_BY_KIND, kind) * (form == FORMS.index("demo_request"))
    logit += _effect(CTA_EFFECT, cta) + _effect(SENIORITY_EFFECT, seniority)
    logit += _effect(INDUSTRY_EFFECT, _codes(frame, "industry", INDUSTRIES))
    logit += _effect(COUNTRY_EFFECT, _codes(frame, "country", COUNTRIES))
    logit += _effect(SOURCE_EFFECT, _codes(frame, "lead_source", SOURCES))
    logit += _effect(CHANNEL_EFFECT, _codes(frame, "campaign_channel", CHANNELS))

    employees = _numbers(frame, "employees")
    size = np.maximum(-1.0, 0.6 - 0.45 * (np.log10(np.maximum(employees, 1.0)) - 2.8) ** 2)
    logit += np.where(np.isnan(employees), -0.15, size)  # sweet spot around 200-2000

    customer = _flags(frame, "existing_customer")
    logit += np.where(np.isnan(customer), 0.15, 0.7 * np.nan_to_num(customer))
    upsell = np.nan_to_num(customer) * (cta == CTAS.index("pricing_request"))
    logit += 0.3 * upsell  # a pricing request from an existing customer is an upsell

    logit += 0.35 * np.log1p(np.minimum(_numbers(frame, "web_visits"), 40))
    pricing_weight = 0.3 + 0.35 * _effect(DIRECTOR_PLUS, seniority)
    logit += pricing_weight * np.log1p(np.minimum(_numbers(frame, "pricing_page_views"), 15))
    logit += 0.3 * np.log1p(np.minimum(_numbers(frame, "email_clicks"), 20))

    opens = _numbers(frame, "email_opens")  # a few opens help; scanner-like volumes do not
    open_effect = 0.25 * np.minimum(opens, 6) / 6 - 0.2 * np.clip(opens - 20, 0, 40) / 40
    logit += np.where(np.isnan(opens), -0.05, open_effect)

    days = _numbers(frame, "days_since_last_activity")
    logit += np.where(np.isnan(days), -2.0, -0.35 * np.log1p(np.clip(days, 0, 180)))

    downloads = _numbers(frame, "content_downloads")
    logit += 0.2 * np.minimum(downloads, 3) - 0.08 * np.clip(downloads - 3, 0, 5)

    minutes = _numbers(frame, "webinar_minutes")
    logit += np.where(np.isnan(minutes), 0.0, -0.25 + 0.6 * np.minimum(minutes, 60) / 60)
    logit -= 0.1 * _flags(frame, "newsletter_subscriber")
    return _sigmoid(logit)


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of `probs` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    picked = (rng.random(len(probs))[:, None] >= cum).sum(axis=1)
    return np.minimum(picked, probs.shape[1] - 1)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _categorical(
    allowed: tuple[str, ...], codes: np.ndarray, missing: np.ndarray | None = None
) -> pd.Series:
    """Strings from `allowed` by position; missing where `missing` is True."""
    values = pc.take(pa.array(allowed, pa.large_string()), pa.array(codes, mask=missing))
    return pd.Series(pd.array(values, dtype="str"))


def _ints(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(values.astype(np.int64), missing)


def _counts(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    """Over-dispersed counts (gamma-Poisson, i.e. negative binomial) with the given mean."""
    return rng.poisson(mean * rng.gamma(2.0, 0.5, len(mean))).astype(np.int64)


def _chunk(
    rng: np.random.Generator, first: int, n: int, rows: int, start_s: int, end_s: int
) -> pd.DataFrame:
    """Leads first .. first+n-1 of `rows`, created evenly over [start_s, end_s) in seconds."""
    index = np.arange(first, first + n, dtype=np.int64)
    span = end_s - start_s
    seconds = start_s + np.floor((index + rng.random(n)) / rows * span).astype(np.int64)
    created = seconds.astype("datetime64[s]")
    trend = np.clip((seconds - TREND_FROM) / (TREND_TO - TREND_FROM), 0.0, 1.0)
    month = created.astype("datetime64[M]").astype(np.int64) % 12

    shares = np.outer(1 - trend, SOURCE_EARLY) + np.outer(trend, SOURCE_LATE)
    shares[:, SOURCES.index("events")] *= EVENT_SEASON[month]
    source = _pick(rng, shares)
    intent = SOURCE_INTENT[source] + rng.standard_normal(n)
    fit = rng.standard_normal(n)
    channel = _pick(rng, CHANNEL_GIVEN_SOURCE[source])
    form = _pick(rng, _softmax(FORM_GIVEN_CHANNEL[channel] + np.outer(intent, FORM_INTENT)))

    paid_social = (source == SOURCES.index("paid_social")).astype(np.float64)
    kind_logits = np.zeros((n, 3))
    kind_logits[:, 1] = -2.0 + 2.0 * trend + 0.8 * paid_social - 0.4 * fit
    kind_logits[:, 2] = -3.3 + 0.7 * paid_social - 0.3 * fit
    kind = _pick(rng, _softmax(kind_logits))
    business = kind == 0
    student = (kind == 2).astype(np.float64)

    education = np.eye(len(INDUSTRIES))[INDUSTRIES.index("education")]
    industry = _pick(rng, _softmax(np.log(INDUSTRY_SHARE) + 2.5 * np.outer(student, education)))
    industry_missing = rng.random(n) < np.where(business, 0.08, 0.25)
    log_employees = 4.3 + 0.9 * fit + 1.3 * rng.standard_normal(n)
    employees = np.clip(np.round(np.exp(log_employees)), 1, 500_000).astype(np.int64)
    employees_missing = rng.random(n) < np.where(business, 0.11, 0.28)

    sen_logits = np.log(SENIORITY_SHARE) + np.outer(fit, [-0.5, -0.2, 0.0, 0.2, 0.3, 0.3])
    sen_logits += np.outer(student, [3.5, 0.0, -1.0, -2.0, -2.0, -2.0])
    sen_logits[:, -1] += 1.5 * (log_employees < np.log(20))  # small firms: founders fill forms
    seniority = _pick(rng, _softmax(sen_logits))
    country = _pick(rng, np.broadcast_to(COUNTRY_SHARE, (n, len(COUNTRIES))))
    content_form = form <= FORMS.index("webinar_attended")  # whitepaper, survey, webinar
    newsletter = rng.random(n) < 0.3 + 0.15 * content_form

    web = _counts(rng, np.exp(0.9 + 0.45 * intent + FORM_WEB[form]))
    pricing = rng.binomial(web, _sigmoid(-2.0 + 0.8 * intent + FORM_PRICE[form]))
    opens = _counts(rng, np.exp(1.0 + 0.3 * intent + 0.5 * newsletter))
    clicks = rng.binomial(opens, _sigmoid(-1.6 + 0.6 * intent))
    opens_missing = rng.random(n) < 0.10  # tracking pixels blocked: clicks still redirect
    whitepaper = form == FORMS.index("whitepaper_download")
    downloads = _counts(rng, np.exp(-1.2 + 0.3 * intent + 0.6 * whitepaper))
    invited = channel == CHANNELS.index("webinar")
    attend = np.where(invited, 0.6, _sigmoid(-2.8 + 0.5 * intent))
    attended = (form == FORMS.index("webinar_attended")) | (rng.random(n) < attend)
    minutes = np.clip(rng.gamma(2.0, 17.5 * np.exp(0.3 * intent)), 1.0, 240.0).round(1)

    active = (web + clicks + downloads + attended) > 0
    recent = np.floor(rng.exponential(np.exp(2.2 - 0.5 * intent)))
    old = rng.integers(30, 366, n)  # activity tracked long before capture
    days = np.minimum(np.where(rng.random(n) < 0.05, old, recent), 365).astype(np.int64)

    cta_logits = np.zeros((n, 4))
    cta_logits[:, 1:] = np.array([-1.9, -2.6, -3.0]) + np.outer(intent, [0.4, 0.8, 0.9])
    cta = _pick(rng, _softmax(cta_logits))
    partner = source == SOURCES.index("partner")
    customer = rng.random(n) < _sigmoid(-2.3 + 0.5 * fit + 0.5 * partner)

    ids = (index + 1).astype(np.str_)
    frame = pd.DataFrame(
        {
            "lead_id": pd.Series(np.strings.add("L", np.strings.zfill(ids, 9)), dtype="str"),
            "created_at": created.astype("datetime64[us]"),
            "lead_source": _categorical(SOURCES, source),
            "campaign_channel": _categorical(CHANNELS, channel),
            "capture_form": _categorical(FORMS, form),
            "follow_up_cta": _categorical(CTAS, cta, rng.random(n) < 0.04),
            "industry": _categorical(INDUSTRIES, industry, industry_missing),
            "employees": _ints(employees, employees_missing),
            "job_seniority": _categorical(SENIORITIES, seniority, rng.random(n) < 0.08),
            "country": _categorical(COUNTRIES, country, rng.random(n) < 0.03),
            "email_domain_kind": _categorical(EMAIL_KINDS, kind),
            "web_visits": web,
            "pricing_page_views": pricing.astype(np.int64),
            "email_opens": _ints(opens, opens_missing),
            "email_clicks": clicks.astype(np.int64),
            "days_since_last_activity": _ints(days, ~active),
            "content_downloads": downloads,
            "webinar_minutes": np.where(attended, minutes, np.nan),
            "newsletter_subscriber": newsletter,
            "existing_customer": pd.arrays.BooleanArray(customer, rng.random(n) < 0.10),
        }
    )
    truth = true_probability(frame)  # the truth sees only what the CRM recorded
    ready = rng.random(n) < truth
    still_open = (seconds >= end_s - OPEN_DAYS * 86_400) & (rng.random(n) < OPEN_SHARE)
    meeting = rng.random(n) < np.where(ready, 0.9, 0.03)
    frame["sales_ready"] = _ints(ready, still_open)
    frame["meeting_booked"] = _ints(meeting, still_open)
    frame["true_probability"] = truth
    return frame


def _seconds(when: str, what: str) -> int:
    try:
        stamp = pd.Timestamp(when)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise LeadmlError(f"{what} '{when}' is not a date like 2024-01-01")
    return stamp.value // 10**9


def _window(start: str, end: str) -> tuple[int, int]:
    start_s, end_s = _seconds(start, "start"), _seconds(end, "end")
    if end_s <= start_s:
        raise LeadmlError(f"end {end} must be after start {start}")
    return start_s, end_s


def generate(
    rows: int, seed: int, start: str = DEFAULT_START, end: str = DEFAULT_END
) -> Iterator[pd.DataFrame]:
    """Yield the leads in chunks of CHUNK_ROWS, in created_at order, over [start, end).

    Chunk k draws from `np.random.default_rng([seed, k])`, so the same (rows, seed, start, end)
    always gives the same leads. Bad arguments raise LeadmlError at the call, not on iteration.
    """
    if rows < 1:
        raise LeadmlError(f"rows must be at least 1, not {rows}")
    if seed < 0:
        raise LeadmlError(f"seed must be 0 or more, not {seed}")
    start_s, end_s = _window(start, end)
    return _chunks(rows, seed, start_s, end_s)


def _chunks(rows: int, seed: int, start_s: int, end_s: int) -> Iterator[pd.DataFrame]:
    for k, first in enumerate(range(0, rows, CHUNK_ROWS)):
        rng = np.random.default_rng([seed, k])
        yield _chunk(rng, first, min(CHUNK_ROWS, rows - first), rows, start_s, end_s)


def _format(out: Path) -> str:
    name = out.name.lower()
    for ext in sorted(EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    raise LeadmlError(
        f"{out}: unknown file type; the demo leads can be written as {', '.join(EXTENSIONS)}"
    )


def write(
    rows: int,
    seed: int,
    out: str | Path,
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the generated leads to `out` (.csv, .csv.gz or .parquet) chunk by chunk.

    The file appears only when complete (written beside it, then renamed). `progress` gets the
    number of rows written so far after each chunk. Returns the number of rows written.
    """
    out = Path(out)
    ext = _format(out)
    chunks = generate(rows, seed, start, end)  # checks the arguments before touching files
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(tmp_name)
    written = 0
    try:
        with os.fdopen(fd, "wb") as raw:
            if ext == ".parquet":
                written = _write_parquet(chunks, raw, progress)
            elif ext == ".csv.gz":
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped:
                    written = _write_csv(chunks, zipped, progress)
            else:
                written = _write_csv(chunks, raw, progress)
        tmp.chmod(0o644)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return written


def write_partitioned(
    rows: int,
    seed: int,
    out: str | Path,
    partition_rows: int = PARTITION_ROWS,
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    progress: Callable[[int], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> int:
    """Write the generated leads as a folder of Parquet parts of `partition_rows` leads each.

    The same leads, in the same order, as `write` gives for the same seed; never more than one
    chunk in memory. The folder appears only when complete (`say` hears of unfinished folders
    of earlier, killed runs removed). Returns the number of rows written.
    """
    if partition_rows < 1:
        raise LeadmlError(f"partition rows must be at least 1, got {partition_rows}")
    chunks = generate(rows, seed, start, end)  # checks the arguments before touching files
    tmp = folders.staging(out, KIND_LEADS, say=say)
    written, parts = 0, 0
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            while table.num_rows:
                if writer is None:
                    writer = pq.ParquetWriter(tmp / folders.part_name(parts), table.schema)
                    parts, in_part = parts + 1, 0
                take = min(table.num_rows, partition_rows - in_part)
                writer.write_table(table.slice(0, take).cast(writer.schema))
                table, in_part, written = table.slice(take), in_part + take, written + take
                if in_part == partition_rows:
                    writer.close()
                    writer = None
            if progress is not None:
                progress(written)
        if writer is not None:
            writer.close()
            writer = None
        folders.publish(
            tmp, out, {"kind": KIND_LEADS, "rows": written, "seed": seed, "parts": parts}
        )
    except BaseException:
        if writer is not None:
            writer.close()
        folders.discard(tmp)
        raise
    return written


def _write_csv(
    chunks: Iterator[pd.DataFrame],
    raw: IO[bytes] | gzip.GzipFile,
    progress: Callable[[int], None] | None,
) -> int:
    written = 0
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    for chunk in chunks:
        chunk.to_csv(text, header=written == 0, index=False, lineterminator="\n")
        written += len(chunk)
        if progress is not None:
            progress(written)
    text.flush()
    text.detach()
    return written


def _write_parquet(
    chunks: Iterator[pd.DataFrame], raw: IO[bytes], progress: Callable[[int], None] | None
) -> int:
    written = 0
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(raw, table.schema)
            writer.write_table(table.cast(writer.schema))
            written += len(chunk)
            if progress is not None:
                progress(written)
    finally:
        if writer is not None:
            writer.close()
    return written


# ---- A messy CRM export of the same leads, as a team would bring its own file to `leadml init`
MESSY_COLUMNS = {  # demo column -> the export's name for it
    "lead_source": "Lead Source",
    "capture_form": "Capture Form",
    "follow_up_cta": "Follow-up CTA",
    "industry": "Industry",
    "employees": "Employees",
    "job_seniority": "Job Seniority",
    "country": "Country",
    "email_domain_kind": "Email Domain",
    "web_visits": "Web Visits",
    "pricing_page_views": "Pricing Page Views",
    "email_clicks": "Email Clicks",
    "newsletter_subscriber": "Newsletter Subscriber",
    "existing_customer": "Existing Customer",
}
MESSY_PLACEHOLDER = "Select"  # what the export's drop-downs write when nobody chose


def messy_export(rows: int, seed: int) -> pd.DataFrame:
    """The demo leads as a CRM exports them: names with spaces and capitals, 'Select' for an
    industry or seniority nobody chose, Yes/No flags, newest lead first, no timestamp but a
    growing `Lead Number`, a `Prospect ID`, a `Lead Status` set after contact (it leaks the
    outcome), `Converted` 1/0 (leads still open left out), and a trailing unnamed empty column."""
    leads = pd.concat(generate(rows, seed), ignore_index=True)
    leads = leads[leads["sales_ready"].notna()].reset_index(drop=True)
    rng = np.random.default_rng([seed, 1_000_003])
    out = pd.DataFrame(
        {
            "Prospect ID": [f"p-{v:012x}" for v in rng.integers(0, 2**48, len(leads))],
            "Lead Number": 600_000 + np.arange(len(leads)) * 3 + rng.integers(0, 3, len(leads)),
        }
    )
    for column, name in MESSY_COLUMNS.items():
        values = leads[column].astype(object).where(leads[column].notna(), None)
        if column in ("industry", "job_seniority"):
            values = values.where(values.notna(), MESSY_PLACEHOLDER)
        elif leads[column].dtype.kind == "b" or str(leads[column].dtype) == "boolean":
            values = values.map({True: "Yes", False: "No", None: None})
        out[name] = values
    booked = leads["meeting_booked"].to_numpy(dtype=bool)
    status = np.where(
        booked, "Meeting Booked", np.where(rng.random(len(leads)) < 0.5, "Contacted", "Not Reached")
    )
    out["Lead Status"] = status
    out["Converted"] = leads["sales_ready"].astype(int)
    out[""] = None  # a trailing separator on every line: an empty column without a name
    return out.iloc[::-1].reset_index(drop=True)  # newest first


def write_messy(rows: int, seed: int, out: str | Path) -> int:
    """`messy_export` written as CSV with Windows line ends (CRLF); returns the leads written."""
    frame = messy_export(rows, seed)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\r\n")
    return len(frame)

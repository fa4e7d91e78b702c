#!/usr/bin/env bash
# CI: fuzzes the REST API of a running `medledger up` with schemathesis, against the OpenAPI document it
# serves, logged in as an administrator and then as a doctor. Fails on any schemathesis failure.
#
# Needs: the binary (`cargo build --bin medledger`, built here if missing; another path in
# $MEDLEDGER_BIN), curl, python3, and `pip install "schemathesis>=4.32,<5" openapi-spec-validator`
# (installed here if missing; the hooks below use schemathesis 4's API). Takes about 1.5 minutes on two
# cores once the binary is built.
# Knobs: SCHEMATHESIS_MAX_EXAMPLES (default 30), SCHEMATHESIS_WORKERS (default 2),
# SCHEMATHESIS_SEED (default: random; schemathesis prints the seed it used, to replay a failure),
# SCHEMATHESIS_RUN_TIMEOUT_S (default 110, per run).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${MEDLEDGER_BIN:-target/debug/medledger}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-30}"
WORKERS="${SCHEMATHESIS_WORKERS:-2}"
# Each schemathesis run is cut off after this long (a run takes 35-60 s with 30 examples), so the whole
# script ends within 5 minutes even when the server hangs.
RUN_TIMEOUT_S="${SCHEMATHESIS_RUN_TIMEOUT_S:-110}"
# How long `medledger up` may take to say it is serving.
START_TIMEOUT_S=60

if [[ ! -x "$BIN" ]]; then
  if [[ -n "${MEDLEDGER_BIN:-}" ]]; then
    echo "MEDLEDGER_BIN=$MEDLEDGER_BIN is not an executable" >&2
    exit 2
  fi
  echo "building medledger ($BIN not found)" >&2
  cargo build --locked --bin medledger
fi
if ! command -v schemathesis >/dev/null || ! command -v openapi-spec-validator >/dev/null; then
  echo "installing schemathesis and openapi-spec-validator" >&2
  python3 -m pip install --quiet "schemathesis>=4.32,<5" openapi-spec-validator
fi
for tool in curl python3 schemathesis openapi-spec-validator timeout; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 2; }
done

WORK="$(mktemp -d)"
LOG="$WORK/medledger.log"
SERVER_PID=""
ok=0
cleanup() {
  local status=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # A clean stop commits what is pending; give it a bounded time, then kill.
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $ok -ne 1 || $status -ne 0 ]]; then
    echo "---- medledger up log ----" >&2
    cat "$LOG" >&2 2>/dev/null || true
    echo "---- end of log ----" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ADMIN_EMAIL="admin@medledger.local"
ADMIN_PASSWORD="ci-admin-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
DOCTOR_EMAIL="doctor.ci@medledger.local"
DOCTOR_PASSWORD="ci-doctor-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"

NO_COLOR=1 RUST_LOG=info MEDLEDGER_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  "$BIN" up --data "$WORK/data" --listen 127.0.0.1:0 --admin-email "$ADMIN_EMAIL" 2>"$LOG" &
SERVER_PID=$!

# Wait for "serving on http://ADDR", polling the log until a deadline.
ADDRESS=""
deadline=$((SECONDS + START_TIMEOUT_S))
while [[ -z "$ADDRESS" ]]; do
  ADDRESS="$(grep -o 'serving on http://[0-9.:]*' "$LOG" | head -n1 | sed 's|serving on http://||' || true)"
  [[ -n "$ADDRESS" ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "medledger up exited before serving" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "medledger up did not say it was serving within ${START_TIMEOUT_S}s" >&2
    exit 1
  fi
  sleep 0.2
done
BASE="http://$ADDRESS"
echo "medledger is serving on $BASE" >&2

# POST a JSON body; prints the response body, fails on a non-2xx status.
post() {
  local path=$1 body=$2 token=${3:-}
  local auth=()
  [[ -n "$token" ]] && auth=(-H "Authorization: Bearer $token")
  curl --silent --show-error --fail-with-body --max-time 30 \
    -H 'Content-Type: application/json' "${auth[@]}" --data "$body" "$BASE$path"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
json_body() { python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }

ADMIN_TOKEN="$(post /api/v1/auth/login "$(json_body email "$ADMIN_EMAIL" password "$ADMIN_PASSWORD")" | json_field token)"
# The administrator chooses the doctor's initial password; the doctor replaces it with her own at her
# first login (until then every other call answers 403 password_change_required).
DOCTOR_INITIAL_PASSWORD="ci-initial-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
post /api/v1/doctors "$(python3 -c 'import json,sys; print(json.dumps({
  "provider_id": 900000001, "given_name": "Ana", "family_name": "Schemathesis",
  "email": sys.argv[1], "password": sys.argv[2]}))' "$DOCTOR_EMAIL" "$DOCTOR_INITIAL_PASSWORD")" "$ADMIN_TOKEN" >/dev/null
FIRST_TOKEN="$(post /api/v1/auth/login "$(json_body email "$DOCTOR_EMAIL" password "$DOCTOR_INITIAL_PASSWORD")" | json_field token)"
post /api/v1/auth/password "$(json_body current_password "$DOCTOR_INITIAL_PASSWORD" new_password "$DOCTOR_PASSWORD")" "$FIRST_TOKEN" >/dev/null
DOCTOR_TOKEN="$(post /api/v1/auth/login "$(json_body email "$DOCTOR_EMAIL" password "$DOCTOR_PASSWORD")" | json_field token)"
echo "logged in as $ADMIN_EMAIL and as $DOCTOR_EMAIL" >&2

SCHEMA_URL="$BASE/api/v1/openapi.json"
curl --silent --show-error --fail --max-time 30 "$SCHEMA_URL" -o "$WORK/openapi.json"
openapi-spec-validator "$WORK/openapi.json"

# Three rules relate values to what JSON Schema cannot compare them with, so the document states them in
# words and the generator is taught them here (hooks change generated data only; every check stays on,
# and data that breaks the schema still reaches the server): a drug exposure's end dates are not before
# its start date, nor its end datetime before its start datetime (else 422); a consistency proof's
# `from` is not after its `to` (else 400); and a year of birth (`year_of_birth` of patients and
# doctors, the year of a patient's `birth_datetime`) is not after the current year, which the document
# does not name so that it stays the same every year (else 422). Without them schemathesis calls such
# requests "schema-valid but rejected". In schema-valid cases only, the hooks reorder values the
# generator drew, and bring a year of birth after the current UTC year (or, for `birth_datetime`, whose
# pattern allows any year, before 1850) to the nearest plausible one, a leap year for February 29th. A
# fourth rule is not a comparison but still beyond JSON Schema: a new password is not easy to guess
# (`too_weak`); registrations' drawn passwords are replaced by strong ones.
cat >"$WORK/medledger_schemathesis_hooks.py" <<'PYTHON'
import re
import secrets
from datetime import date, datetime, timezone

import schemathesis

DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
DATETIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}([Zz]|\+00:00)$")


def _parsed(value, shape, parse):
    if not isinstance(value, str) or not shape.match(value):
        return None
    try:
        return parse(value)
    except ValueError:
        return None


def _as_date(value):
    return _parsed(value, DATE, date.fromisoformat)


def _as_datetime(value):
    return _parsed(value, DATETIME, lambda v: datetime.fromisoformat(v.upper().replace("Z", "+00:00")))


def _start_first(fields, start, others, parse):
    """Swaps values so that `start` holds the earliest of the dates present (and parseable)."""
    present = [name for name in [start, *others] if parse(fields.get(name)) is not None]
    if start not in present or len(present) < 2:
        return
    earliest = min(present, key=lambda name: parse(fields[name]))
    fields[start], fields[earliest] = fields[earliest], fields[start]


def _order_drug_exposure_dates(fields):
    if isinstance(fields, dict):
        _start_first(fields, "drug_exposure_start_date", ["drug_exposure_end_date", "verbatim_end_date"], _as_date)
        _start_first(fields, "drug_exposure_start_datetime", ["drug_exposure_end_datetime"], _as_datetime)


def _positive(case):
    # Only data the document allows: a negative case is left exactly as drawn.
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook("map_case").apply_to(method="POST", path_regex=r"^/api/v1/drug-exposures(/\{id\}/amendments)?$")
def order_drug_exposure_dates(context, case):
    if _positive(case) and isinstance(case.body, dict):
        _order_drug_exposure_dates(case.body)
        _order_drug_exposure_dates(case.body.get("changes"))
    return case


BIRTH_YEAR_MIN = 1850


def _is_leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _plausible_birth_year(year, leap_day):
    """The year nearest `year` in BIRTH_YEAR_MIN..=the current UTC year (a leap year if the birth is on
    February 29th); `year` itself when it is one."""
    this_year = datetime.now(timezone.utc).year
    if BIRTH_YEAR_MIN <= year <= this_year:
        return year
    nearest = min(max(year, BIRTH_YEAR_MIN), this_year)
    step = -1 if nearest == this_year else 1
    while leap_day and not _is_leap(nearest):
        nearest += step
    return nearest


def _plausible_birth_years(fields):
    if not isinstance(fields, dict):
        return
    year = fields.get("year_of_birth")
    # JSON Schema's integers include whole numbers written with a fraction (`2084.0`), as the server's.
    if isinstance(year, float) and year.is_integer():
        year = int(year)
    if isinstance(year, int) and not isinstance(year, bool):
        leap_day = fields.get("month_of_birth") == 2 and fields.get("day_of_birth") == 29
        plausible = _plausible_birth_year(year, leap_day)
        if plausible != year:
            fields["year_of_birth"] = plausible
    birth = fields.get("birth_datetime")
    if _as_datetime(birth) is not None:
        year = _plausible_birth_year(int(birth[:4]), birth[5:10] == "02-29")
        fields["birth_datetime"] = f"{year:04d}{birth[4:]}"


@schemathesis.hook("map_case").apply_to(method="POST")
def fresh_idempotency_key(context, case):
    # A key names one write: the same key with another body is refused (422 `key_reused`), which is
    # the server's state, not the document's. Schema-valid cases get a key of their own.
    if _positive(case) and case.headers:
        for name in list(case.headers.keys()):
            if name.lower() == "idempotency-key":
                case.headers[name] = secrets.token_hex(16)
    return case


@schemathesis.hook("map_case").apply_to(method="POST", path_regex=r"^/api/v1/(admins|doctors)$")
def strong_initial_password(context, case):
    # A new password must also not be easy to guess (at least 5 different characters, no keyboard run,
    # no common password), which the document states in words: a drawn password such as twelve zeros
    # is replaced by a strong one of the same length range in schema-valid cases.
    if _positive(case) and isinstance(case.body, dict) and isinstance(case.body.get("password"), str):
        case.body["password"] = "Strong-" + secrets.token_hex(12)
    return case


@schemathesis.hook("map_case").apply_to(method="POST", path_regex=r"^/api/v1/(patients|doctors)(/\{id\}/amendments)?$")
def plausible_birth_years(context, case):
    if _positive(case) and isinstance(case.body, dict):
        _plausible_birth_years(case.body)
        _plausible_birth_years(case.body.get("changes"))
    return case


def _size(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


@schemathesis.hook("map_case").apply_to(method="GET", path="/api/v1/ledger/consistency")
def order_consistency_range(context, case):
    query = case.query
    if _positive(case) and isinstance(query, dict):
        low, high = _size(query.get("from")), _size(query.get("to"))
        if low is not None and high is not None and low > high:
            query["from"], query["to"] = query["to"], query["from"]
    return case


# Some CPython releases fail `ast.parse` with "SystemError: AST constructor recursion depth mismatch"
# when two threads parse at once (gh-106905; seen with 3.11.7); Hypothesis parses sources to describe
# its strategies, and `--workers 2` runs two threads. Parsing one at a time avoids that crash.
import ast
import threading

_parse, _parse_lock = ast.parse, threading.Lock()


def _parse_one_at_a_time(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time
PYTHON

# Excluded operations, and only these two: they act on the session under test itself.
# - POST /auth/logout ends the session whose token every request carries: the rest of the run would get
#   401 and test nothing.
# - POST /auth/password needs the current password, which the document cannot give a generator: every
#   schema-valid call is a wrong password (422 `wrong_password`, and a failed attempt counted against
#   the account, which turns into 429), and a right one would change the account's password and end
#   its other sessions.
# Both are tested over HTTP in crates/gateway/tests/auth.rs (logout, expiry, password changes, limits).
# A schema-valid amendment may name a version that is no longer current (`expected_version`,
# `If-Match`): 412 is the right answer to it, as 409 is to an id that exists, and it writes nothing, so
# it is a rejection of schema-violating data too (schemathesis sends an empty If-Match, which the
# server reads as no header, in both kinds of case).
cat >"$WORK/schemathesis.toml" <<'TOML'
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "406", "412", "422", "428", "5xx"]
TOML

EXCLUDED=(--exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/password)

run_schemathesis() {
  local who=$1 token=$2
  local seed=()
  [[ -n "${SCHEMATHESIS_SEED:-}" ]] && seed=(--seed "$SCHEMATHESIS_SEED")
  echo "==== schemathesis as $who ====" >&2
  (cd "$WORK" && PYTHONPATH="$WORK" SCHEMATHESIS_HOOKS=medledger_schemathesis_hooks \
    timeout --kill-after=10 "$RUN_TIMEOUT_S" schemathesis run "$SCHEMA_URL" \
      --header "Authorization: Bearer $token" \
      "${EXCLUDED[@]}" \
      --max-examples "$MAX_EXAMPLES" \
      --workers "$WORKERS" \
      --request-timeout 30 \
      --generation-database none \
      --no-color \
      "${seed[@]}") || {
    local rc=$?
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
      echo "schemathesis as $who did not finish within ${RUN_TIMEOUT_S}s" >&2
    else
      echo "schemathesis as $who reported failures (exit $rc)" >&2
    fi
    return 1
  }
}

status=0
run_schemathesis admin "$ADMIN_TOKEN" || status=1
run_schemathesis doctor "$DOCTOR_TOKEN" || status=1
if [[ $status -ne 0 ]]; then
  exit 1
fi
ok=1
echo "schemathesis: no failures" >&2

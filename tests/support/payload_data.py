"""A checker for POST bodies against the payload_data 1-0-4 rules.

Rules (from the Iglu schema com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4):
a self-describing envelope whose data is a non-empty array of objects, each with
string values only, ``tv``, ``p`` and ``e`` present, and no property outside the
known set.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"

PROPERTIES = frozenset(
    """
    tna aid p dtm tz e tid eid tv duid nuid uid vid ip res url page refr fp ctype cookie
    lang f_pdf f_qt f_realp f_wma f_dir f_fla f_java f_gears f_ag cd ds cs vp mac
    pp_mix pp_max pp_miy pp_may ad_ba ad_ca ad_ad ad_uid
    tr_id tr_af tr_tt tr_tx tr_sh tr_ci tr_st tr_co tr_cu
    ti_id ti_sk ti_nm ti_na ti_ca ti_pr ti_qu ti_cu
    sa sn st sp se_ca se_ac se_la se_pr se_va ue_na ue_pr ue_px co cx ua tnuid stm sid ttm
    """.split()
)
REQUIRED = ("tv", "p", "e")


def validation_errors(body: Any) -> list[str]:
    """Every way ``body`` breaks payload_data 1-0-4 (an empty list when it is valid)."""
    if not isinstance(body, dict) or set(body) != {"schema", "data"}:
        return ["body is not a {schema, data} envelope"]
    errors = []
    if body["schema"] != SCHEMA:
        errors.append(f"schema is {body['schema']!r}, not {SCHEMA}")
    data = body["data"]
    if not isinstance(data, list) or not data:
        return [*errors, "data is not a non-empty array"]
    for index, event in enumerate(data):
        if not isinstance(event, dict):
            errors.append(f"data[{index}] is not an object")
            continue
        for key in REQUIRED:
            if key not in event:
                errors.append(f"data[{index}] lacks {key!r}")
        for key, value in event.items():
            if key not in PROPERTIES:
                errors.append(f"data[{index}] has unknown property {key!r}")
            if not isinstance(value, str):
                errors.append(f"data[{index}].{key} is {type(value).__name__}, not a string")
    return errors

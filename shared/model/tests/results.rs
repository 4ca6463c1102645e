//! Job results read and written by the typed model are the JSON the hub always stored: rows
//! written by earlier versions read back, and are written back member for member.

use hub_model::{JobKind, JobResult, Stats};
use serde_json::{Value, json};

fn stats() -> Value {
    json!({"regular": 2, "symlink": 1, "directory": 3, "special": 0, "failure": 0,
           "fullsize": 4096})
}

/// Results as the workers built them key by key before the model existed.
fn stored() -> [(JobKind, Value); 4] {
    let common = |extra: Value| {
        let mut result = json!({
            "name": "app.flist", "stats": stats(), "format": "flist",
            "md5": "0123456789abcdef0123456789abcdef", "size": 1234, "flist_id": 42,
        });
        if let (Some(result), Value::Object(extra)) = (result.as_object_mut(), extra) {
            result.extend(extra);
        }
        result
    };
    [
        (
            JobKind::Convert,
            common(json!({"blocks_written": 7, "blocks_deduped": 3})),
        ),
        (JobKind::Verify, common(json!({"blocks_checked": 9}))),
        (
            JobKind::Merge,
            common(json!({"sources": ["tf/base.flist", "me/app.fl"], "mode": "overlay"})),
        ),
        (
            JobKind::Docker,
            json!({
                "name": "ubuntu-20.04.flist", "flist_id": 42, "md5": "0123",
                "source_key": "docker:v3:sha256:ab", "reused": true,
                "files": {"success": true, "error": null, "response": stats(), "status": 0},
            }),
        ),
    ]
}

#[test]
fn stored_results_round_trip_member_for_member() -> Result<(), serde_json::Error> {
    for (kind, value) in stored() {
        let result = JobResult::read(kind, &value)?;
        assert_eq!(result.to_json(), value, "{kind}");
        assert_eq!(result.flist_id(), Some(42));
        assert_eq!(result.stats(), serde_json::from_value::<Stats>(stats())?);
        // Byte for byte too, as the API writes the stored value (member order is not kept
        // by jsonb, and serde_json's map sorts members).
        assert_eq!(
            serde_json::to_string(&result.to_json())?,
            serde_json::to_string(&value)?
        );
    }
    Ok(())
}

#[test]
fn the_flist_id_is_null_until_set() -> Result<(), serde_json::Error> {
    for (kind, mut value) in stored() {
        value["flist_id"] = Value::Null;
        let mut result = JobResult::read(kind, &value)?;
        assert_eq!(result.flist_id(), None);
        assert_eq!(result.to_json()["flist_id"], Value::Null);
        result.set_flist_id(5);
        assert_eq!(result.to_json()["flist_id"], json!(5));
    }
    Ok(())
}

#[test]
fn a_result_of_another_kind_does_not_read() {
    let [(_, convert), _, _, (_, docker)] = stored();
    assert!(JobResult::read(JobKind::Docker, &convert).is_err());
    assert!(JobResult::read(JobKind::Convert, &docker).is_err());
}

#[test]
fn stats_are_found_where_each_event_has_them() {
    let expected: Stats = serde_json::from_value(stats()).unwrap_or_default();
    for event in [
        json!({"name": "a", "stats": stats()}),
        json!({"files": {"response": stats()}}),
        json!({"status": "success", "file": "a.flist", "flist": stats()}),
        json!({"response": stats()}),
        stats(),
    ] {
        assert_eq!(Stats::found_in(&event), expected, "{event}");
    }
    assert_eq!(Stats::found_in(&json!({"other": 1})), Stats::default());
}

#[test]
fn partial_results_of_older_rows_are_summarised_member_by_member() {
    use hub_model::ResultSummary;
    let expected: Stats = serde_json::from_value(stats()).unwrap_or_default();
    // Only some members: not a `ConvertResult`, still what the synchronous routes need.
    let partial = json!({"stats": stats(), "flist_id": 7});
    assert!(JobResult::read(JobKind::Convert, &partial).is_err());
    assert_eq!(
        ResultSummary::of(JobKind::Convert, &partial),
        ResultSummary {
            flist_id: Some(7),
            stats: expected
        }
    );
    for (kind, value) in stored() {
        let summary = ResultSummary::of(kind, &value);
        assert_eq!((summary.flist_id, summary.stats), (Some(42), expected));
    }
    assert_eq!(
        ResultSummary::of(JobKind::Merge, &json!({})),
        ResultSummary::default()
    );
}

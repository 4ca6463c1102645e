//! What a finished docker job reports: its result (hub-api §7.12) and the final `info` event of
//! the original's `/listen` stream (hub-api §9).

use hub_db::flists::{Flist as FlistRow, NewFlist};
use hub_jobs::{ClaimedJob, JobOutput, Publication};
use hub_model::result::Files;
use hub_model::{DockerResult, JobResult, Stats};
use serde::Deserialize as _;
use serde_json::{Value, json};

/// The output of a job publishing `row`, reused from an earlier job with the same
/// `source_key`, under the job's target name.
pub fn reused(job: &ClaimedJob, row: &FlistRow, source_key: &str) -> JobOutput {
    let result = result(job, Some(row.id), &row.md5, source_key, true, &row.stats);
    JobOutput::publishing(Publication::for_job(job, row), result)
        .with_info(docker_info(&job.job.target_name, &row.stats))
}

/// The output of a job publishing `flist`, converted now (its row is written when published),
/// under the job's target name.
pub fn converted(job: &ClaimedJob, flist: NewFlist, source_key: &str) -> JobOutput {
    // `flist_id` is filled in by the runtime once the row is written.
    let result = result(job, None, &flist.md5, source_key, false, &flist.stats);
    let info = docker_info(&job.job.target_name, &flist.stats);
    JobOutput::publishing(Publication::staged(job, flist), result).with_info(info)
}

/// hub-api §7.12's result of a docker job.
fn result(
    job: &ClaimedJob,
    flist_id: Option<i64>,
    md5: &str,
    source_key: &str,
    reused: bool,
    stats: &Value,
) -> Value {
    // Rows store what `Stats` serialises to; a row without statistics reads as zeros.
    let stats = Stats::deserialize(stats).unwrap_or_default();
    JobResult::Docker(DockerResult {
        name: job.job.target_name.clone(),
        flist_id,
        md5: md5.to_owned(),
        source_key: source_key.to_owned(),
        reused,
        files: Files::success(stats),
    })
    .to_json()
}

/// The final `info` event of a docker job: what legacy listeners wait for.
pub fn docker_info(name: &str, stats: &Value) -> Value {
    json!({"status": "success", "file": name, "flist": stats, "timing": {}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_files_carry_the_stats() {
        let stats = json!({"regular": 1, "symlink": 0, "directory": 2, "special": 0,
                           "failure": 0, "fullsize": 3});
        assert_eq!(
            docker_info("app.flist", &stats),
            json!({"status": "success", "file": "app.flist", "flist": stats, "timing": {}})
        );
    }
}

//! Behaviour: job files and command-line jobs are read as fio reads them, and bad input
//! is refused with an error naming the option, the value and the line.
//!
//! Several job files here are the examples of fio's HOWTO ("Job file format" and the
//! option descriptions), written out again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use boreal_bench::job::parse::{parse_job_args, parse_job_file};
use boreal_bench::job::{EngineName, JobSet, Rw, build_jobs};

fn jobs(text: &str) -> JobSet {
    build_jobs(&parse_job_file(text, Path::new("t.fio")).unwrap(), &[]).unwrap()
}

fn error(text: &str) -> String {
    match parse_job_file(text, Path::new("t.fio")).and_then(|s| build_jobs(&s, &[])) {
        Ok(set) => panic!("expected an error, got {set:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn howto_two_random_readers_share_global_options() {
    let set = jobs(
        "; -- start job file --\n[global]\nrw=randread\nsize=128m\n\n[job1]\n\n[job2]\n\n; -- end job file --\n",
    );
    assert_eq!(set.jobs.len(), 2);
    for job in &set.jobs {
        assert_eq!(job.rw, Rw::RandRead);
        assert_eq!(job.size, Some(128 << 20));
        assert_eq!(job.bs, 4096, "fio's default bs");
        assert_eq!(job.iodepth, 1);
        assert_eq!(job.ioengine, EngineName::Psync);
    }
    assert_eq!(set.jobs[1].name, "job2");
    assert_eq!(
        set.global_echo,
        [
            ("rw".to_string(), "randread".to_string()),
            ("size".to_string(), "128m".to_string())
        ]
    );
}

#[test]
fn howto_two_random_readers_on_the_command_line() {
    let args = [
        "--name=global",
        "--rw=randread",
        "--size=128m",
        "--name=job1",
        "--name=job2",
    ];
    let cli = parse_job_args(&args).unwrap();
    let set = build_jobs(&cli.sections, &cli.global).unwrap();
    assert_eq!(set.jobs.len(), 2);
    assert!(
        set.jobs
            .iter()
            .all(|j| j.rw == Rw::RandRead && j.size == Some(128 << 20))
    );
}

#[test]
fn howto_random_writers_with_libaio_run_on_io_uring() {
    let set = jobs(
        "; -- start job file --\n[random-writers]\nioengine=libaio\niodepth=4\nrw=randwrite\nbs=32k\ndirect=0\nsize=64m\nnumjobs=4\n; -- end job file --\n",
    );
    let job = &set.jobs[0];
    assert_eq!(job.ioengine, EngineName::IoUring);
    assert_eq!(job.ioengine_alias.as_deref(), Some("libaio"));
    assert_eq!((job.iodepth, job.numjobs, job.bs), (4, 4, 32 << 10));
}

#[test]
fn howto_random_writers_with_psync() {
    let set = jobs(
        "[random-writers]\nioengine=psync\niodepth=4\nrw=randwrite\nbs=32k\ndirect=0\nsize=64m\nnumjobs=4\n",
    );
    let job = &set.jobs[0];
    assert_eq!((job.numjobs, job.bs, job.iodepth), (4, 32 << 10, 4));
    assert!(!job.direct);
}

#[test]
fn include_in_text_without_a_file_is_a_clear_error() {
    let err =
        error("[global]\nfilename=/tmp/test\ninclude glob-include.fio\n[test]\nrw=randread\n");
    assert!(
        err.starts_with("t.fio:3: `include glob-include.fio`"),
        "{err}"
    );
}

#[test]
fn unset_environment_variables_are_refused_by_name() {
    let err = error("[random-writers]\nrw=randwrite\nsize=${BOREAL_TEST_SURELY_UNSET}\n");
    assert!(
        err.starts_with("t.fio:3: option `size`: value `${BOREAL_TEST_SURELY_UNSET}`"),
        "{err}"
    );
    assert!(err.contains("BOREAL_TEST_SURELY_UNSET is not set"), "{err}");
}

#[test]
fn later_global_sections_affect_only_later_jobs() {
    let set = jobs("[global]\nbs=8k\nsize=1m\n[a]\n[global]\nbs=16k\n[b]\n[c]\nbs=4k\n");
    let bs: Vec<u64> = set.jobs.iter().map(|j| j.bs).collect();
    assert_eq!(bs, [8192, 16384, 4096]);
}

#[test]
fn sections_whose_names_start_with_global_are_global_sections() {
    // fio's parser takes any section whose name starts with "global" as a global one
    // (`global = !strncmp(name, "global", 6)`, init.c): it runs no job and its options
    // apply to the jobs after it only.
    let set = jobs("[global-disk]\nbs=8k\nsize=1m\n[a]\n[globals]\nbs=16k\n[b]\n[c]\nbs=4k\n");
    let jobs: Vec<(&str, u64, Option<u64>)> = set
        .jobs
        .iter()
        .map(|j| (j.name.as_str(), j.bs, j.size))
        .collect();
    assert_eq!(
        jobs,
        [
            ("a", 8192, Some(1 << 20)),
            ("b", 16384, Some(1 << 20)),
            ("c", 4096, Some(1 << 20))
        ]
    );
    // fio's command line too: `--name=` starting with "global" opens a global section.
    let args = ["--name=global-disk", "--rw=randread", "--name=a"];
    let cli = parse_job_args(&args).unwrap();
    let set = build_jobs(&cli.sections, &cli.global).unwrap();
    let names: Vec<&str> = set.jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["a"]);
    assert_eq!(set.jobs[0].rw, Rw::RandRead);
}

#[test]
fn every_supported_option_parses() {
    let set = jobs(
        "[global]\n\
         ioengine=io_uring\n\
         direct=1\n\
         directory=/tmp/boreal\n\
         group_reporting\n\
         percentile_list=50:99:99.9:99.99\n\
         randseed=0x1234\n\
         [all]\n\
         description=every option once\n\
         filename=data\n\
         readwrite=randrw\n\
         rwmixwrite=30\n\
         blocksize=16k\n\
         size=2g\n\
         io_size=10g\n\
         offset=1m\n\
         iodepth=64\n\
         numjobs=2\n\
         runtime=1m\n\
         time_based=1\n\
         ramp_time=500ms\n\
         fdatasync=8\n\
         end_fsync=1\n\
         rate_iops=5000\n\
         cpus_allowed=0-1,3\n",
    );
    let j = &set.jobs[0];
    assert_eq!(j.ioengine, EngineName::IoUring);
    assert!(j.direct && j.group_reporting && j.time_based && j.end_fsync);
    assert_eq!(j.directory.as_deref(), Some(Path::new("/tmp/boreal")));
    assert_eq!(j.filename.as_deref(), Some("data"));
    assert_eq!(j.percentile_list, [50.0, 99.0, 99.9, 99.99]);
    assert_eq!(j.randseed, 0x1234);
    assert_eq!(j.rw, Rw::RandRw);
    assert_eq!(j.rwmixread, 70);
    assert_eq!(j.bs, 16384);
    assert_eq!(j.size, Some(2 << 30));
    assert_eq!(j.io_size, Some(10 << 30));
    assert_eq!(j.offset, 1 << 20);
    assert_eq!((j.iodepth, j.numjobs), (64, 2));
    assert_eq!(j.runtime, Some(Duration::from_secs(60)));
    assert_eq!(j.ramp_time, Duration::from_millis(500));
    assert_eq!((j.fsync, j.fdatasync), (0, 8));
    assert_eq!(j.rate_iops, [Some(5000); 3]);
    assert_eq!(j.cpus_allowed.as_deref(), Some(&[0, 1, 3][..]));
    assert_eq!(
        j.echo.len(),
        17,
        "job options echo keeps what the job section said"
    );
}

#[test]
fn boreal_park_spin_is_a_time_for_boreal_engines_only() {
    let set = jobs("[a]\nioengine=io_uring\nsize=1m\nboreal_park_spin=20us\n");
    assert_eq!(
        set.jobs[0].boreal_park_spin,
        Some(Duration::from_micros(20))
    );
    let set = jobs("[a]\nioengine=boreal-journal\nrw=write\nboreal_park_spin=0\n");
    assert_eq!(set.jobs[0].boreal_park_spin, Some(Duration::ZERO));
    assert_eq!(jobs("[a]\nsize=1m\n").jobs[0].boreal_park_spin, None);
    let e = error("[a]\nsize=1m\nboreal_park_spin=50us\n");
    assert!(
        e.contains("only to ioengine=io_uring, boreal-journal and boreal-cluster"),
        "{e}"
    );
    let e = error("[a]\nioengine=io_uring\nsize=1m\nboreal_park_spin=11ms\n");
    assert!(
        e.contains("boreal_park_spin") && e.contains("at most 10000us"),
        "{e}"
    );
}

#[test]
fn stonewall_and_iodepth_batch_submit_follow_fio() {
    let set = jobs(
        "[global]\nsize=1m\n[a]\n[b]\nstonewall\niodepth_batch=0\n[c]\nwait_for_previous=1\niodepth_batch_submit=4\n",
    );
    let walls: Vec<bool> = set.jobs.iter().map(|j| j.stonewall).collect();
    assert_eq!(walls, [false, true, true]);
    let batches: Vec<u32> = set.jobs.iter().map(|j| j.iodepth_batch_submit).collect();
    assert_eq!(
        batches,
        [1, 0, 4],
        "fio's default submits each I/O as it is queued"
    );
}

#[test]
fn rwmixread_and_rwmixwrite_last_one_wins() {
    let set = jobs("[a]\nsize=1m\nrw=randrw\nrwmixread=80\nrwmixwrite=10\n");
    assert_eq!(set.jobs[0].rwmixread, 90);
}

#[test]
fn spaces_around_equals_and_comment_styles() {
    let set =
        jobs("# hash comment\n  ; indented semicolon comment\n[a]\n  size = 1m  \n\trw =\twrite\n");
    assert_eq!(set.jobs[0].size, Some(1 << 20));
    assert_eq!(set.jobs[0].rw, Rw::Write);
}

#[test]
fn out_of_range_values_say_the_range() {
    let cases = [
        (
            "[a]\nsize=1m\niodepth=0\n",
            "t.fio:3: option `iodepth`: value `0` is invalid: allowed range is 1..=65536",
        ),
        (
            "[a]\nsize=1m\nnumjobs=5000\n",
            "t.fio:3: option `numjobs`: value `5000` is invalid: allowed range is 1..=1024",
        ),
        (
            "[a]\nsize=1m\nrwmixread=101\n",
            "t.fio:3: option `rwmixread`: value `101` is invalid: allowed range is 0..=100",
        ),
        (
            "[a]\nbs=0\n",
            "t.fio:2: option `bs`: value `0` is invalid: allowed range is 1..=134217728 bytes",
        ),
        (
            "[a]\nbs=1g\n",
            "t.fio:2: option `bs`: value `1g` is invalid: allowed range is 1..=134217728 bytes",
        ),
        (
            "[a]\npercentile_list=50:101\n",
            "t.fio:2: option `percentile_list`: value `50:101` is invalid: percentile `101` is outside (0, 100]",
        ),
        (
            "[a]\nrate_iops=-5\n",
            "t.fio:2: option `rate_iops`: value `-5` is invalid: expected a whole number in 0..=100000000",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(error(text), expected);
    }
}

#[test]
fn malformed_values_say_what_is_expected() {
    let cases = [
        ("[a]\nsize=12q\n", "is not a size such as"),
        ("[a]\nsize=50%\n", "percentages are not supported"),
        ("[a]\nbs=4k,8k,1k,2k\n", "at most three values"),
        ("[a]\nruntime=1.5s\n", "expected a time such as"),
        ("[a]\ndirect=yes\n", "allowed values are 0 or 1"),
        ("[a]\nrw=scan\n", "allowed values are read, write, trim"),
        ("[a]\nrw=randread:-8\n", "count of I/Os per random offset"),
        ("[a]\ncpus_allowed=3-1\n", "is not a CPU or range"),
        ("[a]\nfilename\n", "this option needs a value"),
        (
            "[a]\npercentile_list=1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19:20:21\n",
            "at most 20 percentiles",
        ),
    ];
    for (text, expected) in cases {
        let err = error(text);
        assert!(err.contains(expected), "{text:?}: {err}");
        assert!(err.starts_with("t.fio:2: option `"), "{text:?}: {err}");
    }
}

#[test]
fn unsupported_fio_options_are_refused_by_name_and_line() {
    for option in [
        "thinktime=10",
        "new_group",
        "iodepth_low=2",
        "zero_buffers",
        "fallocate=none",
        "continue_on_error=all",
    ] {
        let err = error(&format!("[a]\nsize=1m\n\n{option}\n"));
        let name = option.split('=').next().unwrap();
        assert!(
            err.starts_with(&format!("t.fio:4: option `{name}` is not supported")),
            "{err}"
        );
    }
}

#[test]
fn syntax_errors_name_the_line() {
    assert!(error("bs=4k\n[a]\n").starts_with("t.fio:1:"));
    assert!(error("[a]\nsize=1m\n[b\n").starts_with("t.fio:3:"));
    assert!(error("[a]\n=5\n").starts_with("t.fio:2:"));
    assert!(error("[]\n").starts_with("t.fio:1:"));
}

#[test]
fn combinations_that_cannot_run_are_refused() {
    assert!(error("[a]\nsize=1m\ntime_based\n").contains("`time_based` needs a `runtime`"));
    assert!(error("[a]\nsize=1m\ndirect=1\nbs=1000\n").contains("multiple of 512"));
    assert!(error("[a]\nsize=1k\nbs=4k\n").contains("smaller than one block"));
    assert!(error("[a]\nsize=1m\nfsync=1\nfdatasync=1\n").contains("not both"));
    assert!(error("; only a comment\n[global]\nbs=4k\n").contains("no job given"));
}

#[test]
fn command_line_overrides_apply_to_every_job_and_are_echoed_as_global() {
    let sections = parse_job_file(
        "[global]\nsize=1g\n[a]\nruntime=30\n[b]\n",
        Path::new("t.fio"),
    )
    .unwrap();
    let overrides = parse_job_args(&["--size=1m", "--runtime=1"])
        .unwrap()
        .global;
    let set = build_jobs(&sections, &overrides).unwrap();
    assert!(set.jobs.iter().all(|j| j.size == Some(1 << 20)));
    assert!(
        set.jobs
            .iter()
            .all(|j| j.runtime == Some(Duration::from_secs(1)))
    );
    assert!(set.jobs[0].echo.is_empty());
    assert_eq!(set.global_echo.len(), 2, "{:?}", set.global_echo);
    let err = build_jobs(&sections, &parse_job_args(&["--bogus=1"]).unwrap().global)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("command-line argument `--bogus=1`: option `bogus`"),
        "{err}"
    );
}

#[test]
fn shipped_job_files_parse_and_mean_what_their_names_say() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("jobs");
    let expect = [
        ("write-4k-fdatasync-qd1.fio", Rw::Write, 4096, 1, 1),
        ("randread-4k-qd32.fio", Rw::RandRead, 4096, 32, 0),
        ("write-4k-qd32.fio", Rw::Write, 4096, 32, 0),
        ("write-128k-qd32.fio", Rw::Write, 128 << 10, 32, 0),
    ];
    for (file, rw, bs, depth, fdatasync) in expect {
        let sections = boreal_bench::job::read_job_file(&dir.join(file)).unwrap();
        let set = build_jobs(&sections, &[]).unwrap();
        let j = &set.jobs[0];
        assert_eq!(
            (j.rw, j.bs, j.iodepth, j.fdatasync),
            (rw, bs, depth, fdatasync),
            "{file}"
        );
        assert!(j.direct && j.time_based, "{file}");
        assert!(
            j.percentile_list.contains(&99.9),
            "{file}: compare needs p99.9"
        );
        assert_eq!(
            j.ioengine,
            EngineName::IoUring,
            "{file}: fio's peer is io_uring"
        );
    }
    let journal = [
        ("journal-128b-qd256.fio", 128, 128, 256),
        ("journal-128b-qd64.fio", 128, 128, 64),
        ("journal-4k-qd1.fio", 4096, 4096, 1),
    ];
    for (file, bs, record_size, depth) in journal {
        let sections = boreal_bench::job::read_job_file(&dir.join(file)).unwrap();
        let set = build_jobs(&sections, &[]).unwrap();
        let j = &set.jobs[0];
        assert_eq!(j.ioengine, EngineName::BorealJournal, "{file}");
        assert_eq!(
            (j.rw, j.bs, j.record_size_or_bs(), j.iodepth),
            (Rw::Write, bs, record_size, depth),
            "{file}"
        );
        assert!(j.time_based, "{file}");
        assert_eq!(j.runtime, Some(Duration::from_secs(10)), "{file}");
        assert_eq!(j.ramp_time, Duration::from_secs(2), "{file}");
        assert!(j.percentile_list.contains(&99.0), "{file}");
    }
}

/// fio's `strip_blank_end` (parse.c) cuts every job-file line at its first `;` and then
/// at its first `#`, wherever they are, and trims what is left. A comment after a value
/// must never become part of the value: with `filename` that would create directories
/// and write a file named after the comment.
#[test]
fn inline_comments_after_a_value_are_stripped_as_fio_strips_them() {
    let set = jobs(
        "[global] ; defaults\nbs=4k ; block size\nsize=1m# one MiB\n[a]  # the job\nfilename=/tmp/x # note\nrw=randread;random reads\ndirectory=/tmp/d;x#y\ntime_based ; flag\nruntime=1\n",
    );
    let job = &set.jobs[0];
    assert_eq!(job.name, "a");
    assert_eq!(job.bs, 4096);
    assert_eq!(job.size, Some(1 << 20));
    assert_eq!(job.filename.as_deref(), Some("/tmp/x"));
    assert_eq!(job.rw, Rw::RandRead);
    assert_eq!(job.directory.as_deref(), Some(Path::new("/tmp/d")));
    assert!(job.time_based);
    assert_eq!(
        set.global_echo,
        [
            ("bs".to_string(), "4k".to_string()),
            ("size".to_string(), "1m".to_string())
        ]
    );
}

#[test]
fn a_comment_after_filename_never_names_the_file() {
    let set = jobs("[a]\nsize=1m\nfilename=data/x.bin # scratch file, safe to delete\n");
    assert_eq!(set.jobs[0].filename.as_deref(), Some("data/x.bin"));
}

//! `append_cost`, the simulated append path that issue 17's instruction counts come
//! from, runs on a tiny size as part of the test suite (STYLE.md habit 10): a
//! measurement tool that stopped working is found here. (`node_load` needs a running
//! node and real sockets; it is not run here.)

use std::path::Path;
use std::process::Command;

#[test]
fn append_cost_runs_and_every_record_is_acknowledged() {
    // `target/<profile>/examples/append_cost`, next to this test's own binary
    // (`target/<profile>/deps/examples_smoke-<hash>`), built first if missing (a test
    // run filtered to this file does not build the examples).
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join("append_cost");
    if !path.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-p", "boreal-netlog", "--example", "append_cost"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        assert!(build.status().expect("run cargo build").success());
    }
    let out = Command::new(&path)
        .args(["--records", "100", "--per-frame", "7", "--in-flight", "3"])
        .output()
        .expect("run append_cost");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "append_cost failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("records=100 accepted=100"), "{stdout}");
}
